/**
 * What the JVM's own tools see of Arrakis: JFR events (category "Arrakis": connection open and
 * close, retransmission timeouts, ring-full drops, {@code force()} latency) and JMX MBeans over
 * counters ({@link CounterMBean}, registered as {@code io.arrakis:type=…,name=…}). Events are
 * committed only behind {@code isEnabled()}, so a JVM that is not recording pays one check.
 */
package io.arrakis.observe;
