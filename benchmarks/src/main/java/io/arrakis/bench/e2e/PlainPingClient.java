package io.arrakis.bench.e2e;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import org.HdrHistogram.Histogram;

/**
 * An application that knows nothing of Arrakis: plain blocking NIO request/response round trips,
 * timed one by one. Prints {@code RESULT <count> <p50 ns> <p99 ns> <p99.9 ns> <mean ns>}.
 * Usage: {@code PlainPingClient <host> <port> <message bytes> <warm-up round trips> <measured round trips>}.
 */
public final class PlainPingClient {
    private PlainPingClient() {}

    public static void main(String[] args) throws IOException {
        InetSocketAddress server = new InetSocketAddress(args[0], Integer.parseInt(args[1]));
        int size = Integer.parseInt(args[2]);
        int warmUp = Integer.parseInt(args[3]);
        int measured = Integer.parseInt(args[4]);
        Histogram histogram = new Histogram(60_000_000_000L, 3);
        try (SocketChannel channel = SocketChannel.open(server)) {
            channel.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
            ByteBuffer request = ByteBuffer.allocateDirect(size);
            ByteBuffer response = ByteBuffer.allocateDirect(size);
            for (int i = 0; i < warmUp + measured; i++) {
                request.clear();
                request.putLong(0, i);
                response.clear();
                long start = System.nanoTime();
                while (request.hasRemaining()) {
                    channel.write(request);
                }
                while (response.hasRemaining()) {
                    if (channel.read(response) < 0) {
                        throw new IOException("the server closed the connection after " + i + " round trips");
                    }
                }
                long took = System.nanoTime() - start;
                if (response.getLong(0) != i) {
                    throw new IOException("round trip " + i + " came back as " + response.getLong(0));
                }
                if (i >= warmUp) {
                    histogram.recordValue(took);
                }
            }
        }
        System.out.printf("RESULT %d %d %d %d %.0f%n", histogram.getTotalCount(),
                histogram.getValueAtPercentile(50), histogram.getValueAtPercentile(99),
                histogram.getValueAtPercentile(99.9), histogram.getMean());
    }
}
