package io.arrakis.control.stats;

import io.arrakis.device.Ipv4Text;
import java.util.List;
import java.util.Map;

/**
 * One consistent snapshot of a process's {@linkplain StatsFile stats file}, as {@link StatsReader}
 * read it. Immutable.
 *
 * @param pid the publishing process
 * @param vnic its VNIC
 * @param mainClass what it runs (its main class or jar)
 * @param publishedAtMillis when the stack last published (epoch ms): a stopped or wedged process shows an old one
 * @param counters {@code group.NAME} to value, in the file's order
 * @param connections TCP connections and listeners, as many as the table holds
 * @param totalConnections how many there were, also beyond the table's room
 */
public record StackStats(long pid, String vnic, String mainClass, long startedAtMillis, long publishedAtMillis,
        long publishes, Map<String, Long> counters, List<Connection> connections, long totalConnections,
        long capturedFrames, long captureDropped) {

    public StackStats {
        counters = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(counters));
        connections = List.copyOf(connections);
    }

    /** A counter's value, 0 when absent. */
    public long counter(String name) {
        return counters.getOrDefault(name, 0L);
    }

    /** A row of the connection table: a connection or (state LISTEN) a listener. */
    public record Connection(boolean listener, int localAddress, int localPort, int remoteAddress, int remotePort,
            String state, int sendQueue, int receiveQueue, int bytesInFlight, long srttNanos, long rttVarNanos,
            long rtoNanos, long congestionWindow, long slowStartThreshold, int mss, int sendWindow,
            int receiveWindow, long bytesIn, long bytesOut, long retransmits, int acceptQueue) {

        public String local() {
            return Ipv4Text.format(localAddress) + ":" + localPort;
        }

        public String remote() {
            return listener ? "*:*" : Ipv4Text.format(remoteAddress) + ":" + remotePort;
        }
    }
}
