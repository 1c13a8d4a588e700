/**
 * The -javaagent that installs the provider at JVM start-up and attaches the process to the
 * control plane. Arrives with issue 5.
 */
package io.arrakis.agent;
