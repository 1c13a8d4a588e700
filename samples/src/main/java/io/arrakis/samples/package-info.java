/**
 * Programs that know nothing of Arrakis: a Redis-like server ({@code redis}) and a memcached-like
 * server ({@code memcached}), which use the JDK only, and the load generator ({@code loadgen}),
 * which adds HdrHistogram. See samples/README.md.
 */
package io.arrakis.samples;
