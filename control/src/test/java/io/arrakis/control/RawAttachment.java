package io.arrakis.control;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * A process that speaks the protocol itself instead of using {@link ShmVnic}: a rogue, for
 * tests. It keeps every descriptor the control plane gives it and can write anything into the
 * memory those let it map, which is exactly what a hostile process could do.
 */
final class RawAttachment implements AutoCloseable {
    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle().withInvokeExactBehavior();

    record PeerFiles(Protocol.PeerAdded peer, int[] fds) {}

    final ControlConnection connection;
    volatile Protocol.Attached attached;
    volatile int[] attachedFds;
    final Map<Integer, PeerFiles> peers = new ConcurrentHashMap<>();

    private RawAttachment(ControlConnection connection) {
        this.connection = connection;
    }

    static RawAttachment attach(Path socket, String name) throws Exception {
        RawAttachment raw = new RawAttachment(ControlConnection.connect(socket));
        raw.connection.start(new ControlConnection.Listener() {
            @Override
            public void onMessage(int requestId, Protocol.Message message, int[] fds) {
                switch (message) {
                    case Protocol.Attached a -> {
                        raw.attachedFds = fds;
                        raw.attached = a;
                    }
                    case Protocol.PeerAdded p -> raw.peers.put(p.id(), new PeerFiles(p, fds));
                    case Protocol.PeerRemoved(int id) -> {
                        PeerFiles gone = raw.peers.remove(id);
                        if (gone != null) {
                            ControlConnection.closeAll(gone.fds());
                        }
                    }
                    default -> ControlConnection.closeAll(fds);
                }
            }

            @Override
            public void onClosed(Throwable why) {}
        }, "raw-" + name);
        raw.connection.request(new Protocol.Attach(name)).get(10, TimeUnit.SECONDS);
        return raw;
    }

    PeerFiles awaitPeer(int id, Duration patience) throws InterruptedException {
        long deadline = System.nanoTime() + patience.toNanos();
        while (!peers.containsKey(id) && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        return peers.get(id);
    }

    /** Our channel to a peer, mapped read-write (as we are entitled to), to write into at will. */
    static final class RogueChannel implements AutoCloseable {
        final Mapping forward;
        final Mapping returnPage;
        final Mapping bell;
        final int capacity;
        final int frameSlot;
        /** This channel's region of the forward file and page of the return file. */
        final MemorySegment region;
        final MemorySegment returnSegment;
        long position;

        /** The channel from our (only) queue to the peer's queue {@code toQueue} of {@code peerQueues}. */
        RogueChannel(PeerFiles files, int capacity, int frameSlot, int toQueue) throws IOException {
            this.capacity = capacity;
            this.frameSlot = frameSlot;
            int peerQueues = files.peer().queues();
            forward = Mapping.map(files.fds()[0], ChannelLayout.forwardFileBytes(capacity, frameSlot, 1, peerQueues),
                    true, "rogue out");
            returnPage = Mapping.map(files.fds()[1], ChannelLayout.returnFileBytes(1, peerQueues), false,
                    "rogue out return");
            bell = Mapping.map(files.fds()[4], ChannelLayout.BELL_BYTES * peerQueues, true, "rogue: peer bells");
            region = forward.segment().asSlice(toQueue * ChannelLayout.channelStride(capacity, frameSlot),
                    ChannelLayout.forwardBytes(capacity, frameSlot));
            returnSegment = returnPage.segment().asSlice(toQueue * ChannelLayout.RETURN_BYTES, ChannelLayout.RETURN_BYTES);
        }

        /** Writes a frame into the slot of the next position and its descriptor; not yet published. */
        void write(byte[] frame) {
            long slot = position & (capacity - 1);
            long at = slot * frameSlot;
            MemorySegment.copy(frame, 0, region, ValueLayout.JAVA_BYTE, ChannelLayout.areaOffset(capacity) + at,
                    frame.length);
            descriptor((int) at, frame.length);
        }

        /** Writes any descriptor at the next position; not yet published. */
        void descriptor(int offset, int length) {
            long d = ChannelLayout.DESCRIPTORS + (position & (capacity - 1)) * ChannelLayout.DESCRIPTOR_BYTES;
            region.set(ValueLayout.JAVA_INT, d, offset);
            region.set(ValueLayout.JAVA_INT, d + 4, length);
            position++;
        }

        void publish() {
            LONG.setRelease(region, ChannelLayout.POSITION, position);
        }

        /** Writes an arbitrary producer position. */
        void publish(long garbage) {
            LONG.setRelease(region, ChannelLayout.POSITION, garbage);
        }

        long consumed() {
            return (long) LONG.getAcquire(returnSegment, ChannelLayout.POSITION);
        }

        @Override
        public void close() {
            forward.close();
            returnPage.close();
            bell.close();
        }
    }

    RogueChannel channelTo(int peer) throws IOException {
        return channelTo(peer, 0);
    }

    /** Our channel to queue {@code toQueue} of {@code peer}. */
    RogueChannel channelTo(int peer, int toQueue) throws IOException {
        PeerFiles files = peers.get(peer);
        return new RogueChannel(files, attached.capacity(), attached.frameSlotSize(), toQueue);
    }

    @Override
    public void close() throws IOException {
        connection.close();
        for (PeerFiles files : peers.values()) {
            ControlConnection.closeAll(files.fds());
        }
        if (attachedFds != null) {
            ControlConnection.closeAll(attachedFds);
        }
    }
}
