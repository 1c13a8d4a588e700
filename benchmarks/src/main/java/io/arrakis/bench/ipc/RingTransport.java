package io.arrakis.bench.ipc;

import io.arrakis.memory.SharedMemory;
import io.arrakis.memory.SpinThenBlock;
import io.arrakis.memory.SpscRing;
import io.arrakis.linux.Unistd;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Messages through two SPSC rings in one shared memfd: "ping" to the peer, "pong" back. Each
 * side spins for a while, then sleeps on the ring's futex doorbell. The peer maps the memfd
 * through {@code /proc/<our pid>/fd/<fd>}.
 */
final class RingTransport implements Transport {
    static final int CAPACITY = 1024;
    static final long RING_BYTES = SpscRing.bytesFor(CAPACITY, MESSAGE_BYTES);
    /** A sequence number that tells the peer to stop. */
    static final long STOP = -1;
    /** Idle passes spent spinning before sleeping: about a millisecond here. */
    static final int SPIN_BUDGET = 200_000;
    static final long BLOCK_TIMEOUT_NANOS = 100_000_000L;

    private final SharedMemory memory;
    private final SpscRing ping;
    private final SpscRing pong;
    private final SpinThenBlock pingSpace;
    private final SpinThenBlock pongWork;
    private final PeerProcess peer;

    private RingTransport(SharedMemory memory, SpscRing ping, SpscRing pong, PeerProcess peer) {
        this.memory = memory;
        this.ping = ping;
        this.pong = pong;
        this.peer = peer;
        this.pingSpace = new SpinThenBlock(ping.producerDoorbell(), ping::hasSpace, SPIN_BUDGET, BLOCK_TIMEOUT_NANOS);
        this.pongWork = new SpinThenBlock(pong.consumerDoorbell(), pong::hasWork, SPIN_BUDGET, BLOCK_TIMEOUT_NANOS);
    }

    static RingTransport open(PeerMode mode) throws IOException {
        SharedMemory memory = SharedMemory.create("arrakis-bench-ring", 2 * RING_BYTES);
        try {
            MemorySegment all = memory.segment();
            SpscRing ping = SpscRing.format(all.asSlice(0, RING_BYTES), CAPACITY, MESSAGE_BYTES, "ping");
            SpscRing pong = SpscRing.format(all.asSlice(RING_BYTES, RING_BYTES), CAPACITY, MESSAGE_BYTES, "pong");
            String path = "/proc/" + Unistd.getpid() + "/fd/" + memory.fd();
            PeerProcess peer = PeerProcess.start(RingPeer.class, mode.name(), path);
            return new RingTransport(memory, ping, pong, peer);
        } catch (IOException | RuntimeException e) {
            memory.close();
            throw e;
        }
    }

    @Override
    public long roundTrip(long sequence) throws IOException {
        send(sequence);
        long slot;
        while ((slot = pong.poll()) < 0) {
            pongWork.idle(0);
            checkPeer();
        }
        pongWork.reset();
        long echoed = pong.segment().get(ValueLayout.JAVA_LONG, slot);
        pong.release();
        return echoed;
    }

    @Override
    public void send(long sequence) throws IOException {
        long slot;
        while ((slot = ping.tryClaim()) < 0) {
            pingSpace.idle(0);
            checkPeer();
        }
        pingSpace.reset();
        ping.segment().set(ValueLayout.JAVA_LONG, slot, sequence);
        ping.commit();
    }

    private void checkPeer() throws IOException {
        if (!peer.isAlive()) {
            throw new IOException("ring peer " + peer.pid() + " died");
        }
    }

    @Override
    public void close() throws IOException {
        try {
            if (peer.isAlive()) {
                send(STOP);
                int exit = peer.awaitExit(10);
                if (exit != 0) {
                    throw new IOException("ring peer " + peer.pid() + " exited with status " + exit);
                }
            }
        } finally {
            peer.close();
            memory.close();
        }
    }
}
