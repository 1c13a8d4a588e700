package io.arrakis.bench.ipc;

import io.arrakis.memory.SharedMemory;
import io.arrakis.memory.SpinThenBlock;
import io.arrakis.memory.SpscRing;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/**
 * The peer side of {@link RingTransport}: {@code RingPeer ECHO|SINK <path of the memfd>}. Echoes
 * (or just consumes) messages until the stop message; exit status 0 when every message arrived
 * in order.
 */
public final class RingPeer {
    private static final int BATCH = 256;

    private RingPeer() {}

    public static void main(String[] args) throws Exception {
        Transport.PeerMode mode = Transport.PeerMode.valueOf(args[0]);
        try (SharedMemory memory = SharedMemory.map(Path.of(args[1]))) {
            MemorySegment all = memory.segment();
            SpscRing ping = SpscRing.attach(all.asSlice(0, RingTransport.RING_BYTES), "ping");
            SpscRing pong = SpscRing.attach(all.asSlice(RingTransport.RING_BYTES, RingTransport.RING_BYTES), "pong");
            SpinThenBlock pingWork = new SpinThenBlock(ping.consumerDoorbell(), ping::hasWork,
                    RingTransport.SPIN_BUDGET, RingTransport.BLOCK_TIMEOUT_NANOS);
            SpinThenBlock pongSpace = new SpinThenBlock(pong.producerDoorbell(), pong::hasSpace,
                    RingTransport.SPIN_BUDGET, RingTransport.BLOCK_TIMEOUT_NANOS);
            long expected = 0;
            long timeoutsSeen = 0;
            while (true) {
                // Take what is waiting as one batch, give the slots back and publish the echoes
                // once per batch: a stack's receive loop works the same way, and it saves a
                // cross-core cache-line transfer per message when the producer is ahead.
                int handled = 0;
                long slot;
                while (handled < BATCH && (slot = ping.poll()) >= 0) {
                    long sequence = ping.segment().get(ValueLayout.JAVA_LONG, slot);
                    if (sequence == RingTransport.STOP) {
                        ping.release();
                        pong.commit();
                        return;
                    }
                    if (sequence != expected++) {
                        System.err.println("ring peer: expected message " + (expected - 1) + ", got " + sequence);
                        System.exit(2);
                    }
                    if (mode == Transport.PeerMode.ECHO) {
                        long out;
                        while ((out = pong.tryClaim()) < 0) {
                            pong.commit();
                            pongSpace.idle(0);
                        }
                        pong.segment().set(ValueLayout.JAVA_LONG, out, sequence);
                    }
                    handled++;
                }
                if (handled > 0) {
                    ping.release();
                    pong.commit();
                    pingWork.reset();
                    pongSpace.reset();
                    continue;
                }
                pingWork.idle(0);
                if (pingWork.timeouts() != timeoutsSeen) {
                    // Nothing for a whole block timeout: stop if the parent is gone.
                    timeoutsSeen = pingWork.timeouts();
                    if (!ProcessHandle.current().parent().map(ProcessHandle::isAlive).orElse(false)) {
                        System.exit(4);
                    }
                }
            }
        }
    }
}
