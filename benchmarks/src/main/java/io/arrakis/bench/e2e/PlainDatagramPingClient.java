package io.arrakis.bench.e2e;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import org.HdrHistogram.Histogram;

/**
 * An application that knows nothing of Arrakis: {@code java.net.DatagramSocket} request/response
 * round trips, timed one by one; a request whose answer does not come within 1 s is sent again
 * (counted as lost, its time not recorded), a late answer to an earlier one is skipped.
 * Prints {@code LOST <count>}, then {@code RESULT <count> <p50 ns> <p99 ns> <p99.9 ns> <mean ns>}.
 * Usage: {@code PlainDatagramPingClient <host> <port> <message bytes> <warm-up round trips> <measured round trips>}.
 */
public final class PlainDatagramPingClient {
    private PlainDatagramPingClient() {}

    public static void main(String[] args) throws IOException {
        InetSocketAddress server = new InetSocketAddress(args[0], Integer.parseInt(args[1]));
        int size = Math.max(8, Integer.parseInt(args[2]));
        int warmUp = Integer.parseInt(args[3]);
        int measured = Integer.parseInt(args[4]);
        Histogram histogram = new Histogram(60_000_000_000L, 3);
        long lost = 0;
        try (DatagramSocket socket = new DatagramSocket()) {
            socket.setSoTimeout(1_000);
            byte[] requestBytes = new byte[size];
            byte[] responseBytes = new byte[size];
            ByteBuffer request = ByteBuffer.wrap(requestBytes);
            ByteBuffer response = ByteBuffer.wrap(responseBytes);
            DatagramPacket out = new DatagramPacket(requestBytes, size, server);
            DatagramPacket in = new DatagramPacket(responseBytes, size);
            for (int i = 0; i < warmUp + measured; i++) {
                request.putLong(0, i);
                long start = System.nanoTime();
                socket.send(out);
                while (true) {
                    try {
                        in.setLength(size);
                        socket.receive(in);
                    } catch (SocketTimeoutException timedOut) {
                        lost++;
                        start = -1;
                        socket.send(out);
                        continue;
                    }
                    if (response.getLong(0) == i) {
                        break;
                    }
                }
                long took = System.nanoTime() - start;
                if (i >= warmUp && start >= 0) {
                    histogram.recordValue(took);
                }
            }
        }
        System.out.println("LOST " + lost);
        System.out.printf("RESULT %d %d %d %d %.0f%n", histogram.getTotalCount(),
                histogram.getValueAtPercentile(50), histogram.getValueAtPercentile(99),
                histogram.getValueAtPercentile(99.9), histogram.getMean());
    }
}
