/**
 * The {@code -javaagent} ({@link io.arrakis.agent.ArrakisAgent}): reads its options, makes the
 * JDK's internals the provider needs reachable, installs the provider and the {@code java.net}
 * hooks before the application's first network call, and says in one line what is routed.
 */
package io.arrakis.agent;
