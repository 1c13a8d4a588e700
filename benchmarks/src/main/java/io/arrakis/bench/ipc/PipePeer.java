package io.arrakis.bench.ipc;

import io.arrakis.linux.Unistd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The peer side of {@link PipeTransport}: {@code PipePeer ECHO|SINK <spin> <ping fifo> <pong fifo>}.
 * Exit status 0 when every message arrived in order before the stop message.
 */
public final class PipePeer {
    private PipePeer() {}

    public static void main(String[] args) throws Exception {
        Transport.PeerMode mode = Transport.PeerMode.valueOf(args[0]);
        boolean spin = Boolean.parseBoolean(args[1]);
        int ping = Unistd.open(args[2], Unistd.O_RDONLY | Unistd.O_CLOEXEC, 0);
        int pong = Unistd.open(args[3], Unistd.O_WRONLY | Unistd.O_CLOEXEC, 0);
        if (spin) {
            // Reopening is the portable way to get O_NONBLOCK without fcntl; the FIFO is already paired.
            int nonBlocking = Unistd.open(args[2], Unistd.O_RDONLY | Unistd.O_NONBLOCK | Unistd.O_CLOEXEC, 0);
            Unistd.close(ping);
            ping = nonBlocking;
        }
        MemorySegment message = Arena.global().allocate(Transport.MESSAGE_BYTES, 64);
        long expected = 0;
        while (true) {
            PipeTransport.readFully(ping, message, spin);
            long sequence = message.get(ValueLayout.JAVA_LONG, 0);
            if (sequence == RingTransport.STOP) {
                return;
            }
            if (sequence != expected++) {
                System.err.println("pipe peer: expected message " + (expected - 1) + ", got " + sequence);
                System.exit(2);
            }
            if (mode == Transport.PeerMode.ECHO && Unistd.write(pong, message) != Transport.MESSAGE_BYTES) {
                System.err.println("pipe peer: short write");
                System.exit(2);
            }
        }
    }
}
