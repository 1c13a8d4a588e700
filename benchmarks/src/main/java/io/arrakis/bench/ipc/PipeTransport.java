package io.arrakis.bench.ipc;

import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Messages through two named pipes ("ping" to the peer, "pong" back), one {@code write(2)} per
 * message and {@code read(2)} to receive: the kernel's IPC path, driven through the same FFM
 * bindings as our ring so that the comparison measures the paths, not the call mechanism.
 * Blocking, or non-blocking with both sides busy-polling ({@code spin}).
 */
final class PipeTransport implements Transport {
    private final Path directory;
    private final int pingFd;
    private final int pongFd;
    private final boolean spin;
    private final MemorySegment message = Arena.global().allocate(MESSAGE_BYTES, 64);
    private final PeerProcess peer;

    private PipeTransport(Path directory, int pingFd, int pongFd, boolean spin, PeerProcess peer) {
        this.directory = directory;
        this.pingFd = pingFd;
        this.pongFd = pongFd;
        this.spin = spin;
        this.peer = peer;
    }

    static PipeTransport open(PeerMode mode, boolean spin) throws IOException {
        Path directory = Files.createTempDirectory("arrakis-bench-pipes");
        Path ping = directory.resolve("ping");
        Path pong = directory.resolve("pong");
        Unistd.mkfifo(ping.toString(), 0600);
        Unistd.mkfifo(pong.toString(), 0600);
        PeerProcess peer = PeerProcess.start(PipePeer.class, mode.name(), Boolean.toString(spin), ping.toString(),
                pong.toString());
        try {
            // Same order as the peer (ping, then pong), or both would block in open(2) forever.
            int pingFd = Unistd.open(ping.toString(), Unistd.O_WRONLY | Unistd.O_CLOEXEC, 0);
            // Blocking first: a non-blocking FIFO with no writer yet reads as end of file.
            int pongFd = Unistd.open(pong.toString(), Unistd.O_RDONLY | Unistd.O_CLOEXEC, 0);
            if (spin) {
                int nonBlocking = Unistd.open(pong.toString(), Unistd.O_RDONLY | Unistd.O_NONBLOCK
                        | Unistd.O_CLOEXEC, 0);
                Unistd.close(pongFd);
                pongFd = nonBlocking;
            }
            return new PipeTransport(directory, pingFd, pongFd, spin, peer);
        } catch (IOException | RuntimeException e) {
            peer.close();
            deleteQuietly(directory);
            throw e;
        }
    }

    @Override
    public long roundTrip(long sequence) throws IOException {
        send(sequence);
        readFully(pongFd, message, spin);
        return message.get(ValueLayout.JAVA_LONG, 0);
    }

    @Override
    public void send(long sequence) throws IOException {
        message.set(ValueLayout.JAVA_LONG, 0, sequence);
        if (Unistd.write(pingFd, message) != MESSAGE_BYTES) {
            // Writes of at most PIPE_BUF (4096) bytes to a blocking pipe are atomic and whole.
            throw new IOException("short write to the ping pipe");
        }
    }

    /** Reads exactly {@code buffer.byteSize()} bytes; spins on EAGAIN when non-blocking. */
    static void readFully(int fd, MemorySegment buffer, boolean spin) throws IOException {
        long done = 0;
        long size = buffer.byteSize();
        while (done < size) {
            long n = Unistd.read(fd, done == 0 ? buffer : buffer.asSlice(done));
            if (n == 0) {
                throw new IOException("pipe closed by the peer after " + done + " of " + size + " bytes");
            }
            if (n > 0) {
                done += n;
            } else if (spin) {
                Thread.onSpinWait();
            }
        }
    }

    @Override
    public void close() throws IOException {
        try {
            send(RingTransport.STOP);
            Unistd.close(pingFd);
            int exit = peer.awaitExit(10);
            if (exit != 0) {
                throw new IOException("pipe peer " + peer.pid() + " exited with status " + exit);
            }
        } finally {
            peer.close();
            Unistd.close(pongFd);
            deleteQuietly(directory);
        }
    }

    private static void deleteQuietly(Path directory) {
        try {
            Files.deleteIfExists(directory.resolve("ping"));
            Files.deleteIfExists(directory.resolve("pong"));
            Files.deleteIfExists(directory);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove the benchmark's pipes in " + directory, e);
        }
    }
}
