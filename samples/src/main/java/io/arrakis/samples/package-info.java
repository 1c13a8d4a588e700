/**
 * Unmodified servers (Redis-like, memcached-like) and the load generator; they depend on the JDK
 * only. Arrive with issue 6.
 */
package io.arrakis.samples;
