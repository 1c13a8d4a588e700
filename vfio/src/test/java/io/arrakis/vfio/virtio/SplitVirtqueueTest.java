package io.arrakis.vfio.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/**
 * The driver's ring against the device's side written by hand from the specification
 * (virtio 1.x, 2.7): the test reads descriptors and the available ring and writes the used ring
 * at the field offsets the specification gives, within the three areas whose addresses the
 * driver would tell the device, never through the class under test.
 */
class SplitVirtqueueTest {
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long IOVA = 0x10_0000;

    /** The device's view: areas at the addresses the driver publishes, fields at spec offsets. */
    private static final class Device {
        final MemorySegment ring;
        final int size;
        final long desc, avail, used;
        int lastAvail;
        int usedIdx;

        Device(MemorySegment ring, SplitVirtqueue q) {
            this.ring = ring;
            this.size = q.size();
            this.desc = q.descriptorTableIova() - IOVA;
            this.avail = q.availIova() - IOVA;
            this.used = q.usedIova() - IOVA;
        }

        int availIdx() {
            return ring.get(LE16, avail + 2) & 0xFFFF;
        }

        int availFlags() {
            return ring.get(LE16, avail) & 0xFFFF;
        }

        int usedEvent() {
            return ring.get(LE16, avail + 4 + 2L * size) & 0xFFFF;
        }

        /** The next chain head the driver made available, or -1. */
        int takeAvail() {
            if (lastAvail == availIdx()) {
                return -1;
            }
            int head = ring.get(LE16, avail + 4 + 2L * (lastAvail % size)) & 0xFFFF;
            lastAvail = (lastAvail + 1) & 0xFFFF;
            return head;
        }

        long descAddr(int id) {
            return ring.get(LE64, desc + 16L * id);
        }

        int descLen(int id) {
            return ring.get(LE32, desc + 16L * id + 8);
        }

        void complete(int id, int length) {
            ring.set(LE32, used + 4 + 8L * (usedIdx % size), id);
            ring.set(LE32, used + 8 + 8L * (usedIdx % size), length);
            usedIdx = (usedIdx + 1) & 0xFFFF;
            ring.set(LE16, used + 2, (short) usedIdx);
        }

        void setAvailEvent(int event) {
            ring.set(LE16, used + 4 + 8L * size, (short) event);
        }

        void setNoNotify(boolean on) {
            ring.set(LE16, used, (short) (on ? 1 : 0));
        }
    }

    @Test
    void theThreeAreasMeetTheSpecificationsSizesAndAlignmentsAndDoNotOverlap() {
        for (int size : new int[] {1, 2, 8, 256, 1024, 32768}) {
            long availAt = SplitVirtqueue.availOffset(size);
            long usedAt = SplitVirtqueue.usedOffset(size);
            assertTrue(availAt >= 16L * size && availAt % 2 == 0, "avail " + size);
            assertTrue(usedAt >= availAt + 6 + 2L * size && usedAt % 4 == 0, "used " + size);
            assertTrue(SplitVirtqueue.bytes(size) >= usedAt + 6 + 8L * size, "bytes " + size);
        }
        assertThrows(IllegalArgumentException.class, () -> new SplitVirtqueue(MemorySegment.NULL, 0, 3, false));
    }

    @Test
    void descriptorsOfferedAreSeenByTheDeviceAndUsedOnesComeBackWithTheirLengths() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ring = arena.allocate(SplitVirtqueue.bytes(8), 4096);
            SplitVirtqueue q = new SplitVirtqueue(ring, IOVA, 8, false);
            Device device = new Device(ring, q);
            int a = q.allocateDescriptor();
            int b = q.allocateDescriptor();
            q.writeDescriptor(a, 0xAAAA_0000L, 1500, SplitVirtqueue.FLAG_WRITE, 0);
            q.writeDescriptor(b, 0xBBBB_0000L, 60, 0, 0);
            q.offer(a);
            q.offer(b);
            assertEquals(0, device.availIdx(), "nothing visible before publish");
            assertTrue(q.publish(), "no NO_NOTIFY flag: notify");
            assertEquals(2, device.availIdx());
            assertEquals(a, device.takeAvail());
            assertEquals(0xAAAA_0000L, device.descAddr(a));
            assertEquals(1500, device.descLen(a));
            assertEquals(b, device.takeAvail());
            assertEquals(2, q.inFlight());
            assertFalse(q.hasUsed());
            device.complete(b, 60);
            device.complete(a, 1000);
            assertTrue(q.hasUsed());
            assertEquals(b, q.usedId());
            assertEquals(60, q.usedLength());
            q.advanceUsed();
            assertEquals(a, q.usedId());
            assertEquals(1000, q.usedLength());
            q.advanceUsed();
            assertFalse(q.hasUsed());
            assertEquals(0, q.inFlight());
            device.setNoNotify(true);
            q.offer(a);
            assertFalse(q.publish(), "the device said NO_NOTIFY");
        }
    }

    @Test
    void interruptsAreArmedThroughTheFlagOrUsedEventAndArmingSeesFramesThatAlreadyArrived() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ring = arena.allocate(SplitVirtqueue.bytes(4), 4096);
            SplitVirtqueue q = new SplitVirtqueue(ring, IOVA, 4, false);
            Device device = new Device(ring, q);
            q.disableInterrupts();
            assertEquals(SplitVirtqueue.AVAIL_F_NO_INTERRUPT, device.availFlags());
            assertTrue(q.enableInterrupts());
            assertEquals(0, device.availFlags());
            int id = q.allocateDescriptor();
            q.offer(id);
            q.publish();
            device.takeAvail();
            device.complete(id, 64);
            assertFalse(q.enableInterrupts(), "a frame waits: do not sleep");

            MemorySegment ring2 = arena.allocate(SplitVirtqueue.bytes(4), 4096);
            SplitVirtqueue e = new SplitVirtqueue(ring2, IOVA, 4, true);
            Device d2 = new Device(ring2, e);
            for (int i = 0; i < 3; i++) {
                int x = e.allocateDescriptor();
                e.offer(x);
                e.publish();
                d2.takeAvail();
                d2.complete(x, 10);
                assertTrue(e.hasUsed());
                e.freeDescriptor(e.usedId());
                e.advanceUsed();
            }
            assertTrue(e.enableInterrupts());
            assertEquals(3, d2.usedEvent(), "interrupt when the used index passes 3, the next entry");
        }
    }

    @Test
    void theSpecificationsNeedEventMatchesWhetherTheEventIndexWasCrossed() {
        // Brute force over a small window around the 16-bit wrap, against the plain definition:
        // an index moving from old to now (now - old < 2^15 steps) crossed e if e is one of old..now-1.
        for (int old = 65_530; old < 65_546; old++) {
            for (int steps = 0; steps < 8; steps++) {
                for (int event = 65_525; event < 65_550; event++) {
                    boolean crossed = false;
                    for (int k = 0; k < steps; k++) {
                        crossed |= ((old + k) & 0xFFFF) == (event & 0xFFFF);
                    }
                    assertEquals(crossed, SplitVirtqueue.needEvent(event & 0xFFFF, (old + steps) & 0xFFFF,
                            old & 0xFFFF), "old " + old + " steps " + steps + " event " + event);
                }
            }
        }
    }

    /**
     * Any interleaving of offers and completions (the device completing in any order) over more
     * than 65,536 operations, so the 16-bit indices wrap: the driver gets back exactly the chains
     * it offered, each once, with the lengths the device wrote, and never offers more than the
     * ring holds.
     */
    @Property(tries = 20)
    void indicesWrapAndEveryOfferedDescriptorComesBackOnce(@ForAll @IntRange(min = 0, max = 3) int sizeLog,
            @ForAll long seed) {
        int size = 1 << sizeLog;
        Random random = new Random(seed);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ring = arena.allocate(SplitVirtqueue.bytes(size), 4096);
            SplitVirtqueue q = new SplitVirtqueue(ring, IOVA, size, random.nextBoolean());
            Device device = new Device(ring, q);
            List<Integer> deviceHolds = new ArrayList<>();
            ArrayDeque<int[]> expected = new ArrayDeque<>();
            long offered = 0;
            long returned = 0;
            for (int step = 0; offered < 70_000 && step < 2_000_000; step++) {
                int action = random.nextInt(3);
                if (action == 0) {
                    int id = q.allocateDescriptor();
                    if (id < 0) {
                        assertEquals(size, q.inFlight());
                        continue;
                    }
                    q.writeDescriptor(id, IOVA + id, id + 1, 0, 0);
                    q.offer(id);
                    offered++;
                    if (random.nextBoolean()) {
                        q.publish();
                    }
                } else if (action == 1) {
                    q.publish();
                    for (int head; (head = device.takeAvail()) >= 0; ) {
                        assertEquals(head + 1, device.descLen(head));
                        deviceHolds.add(head);
                    }
                    if (!deviceHolds.isEmpty()) {
                        int head = deviceHolds.remove(random.nextInt(deviceHolds.size()));
                        int length = random.nextInt(2000);
                        device.complete(head, length);
                        expected.add(new int[] {head, length});
                    }
                } else {
                    while (q.hasUsed()) {
                        int[] want = expected.removeFirst();
                        assertEquals(want[0], q.usedId());
                        assertEquals(want[1], q.usedLength());
                        q.freeDescriptor(q.usedId());
                        q.advanceUsed();
                        returned++;
                    }
                    assertTrue(expected.isEmpty());
                }
                assertTrue(q.inFlight() <= size);
            }
            assertTrue(offered >= 70_000, "the 16-bit indices wrapped: " + offered + " offered");
            assertTrue(returned >= offered - size, offered + " offered, " + returned + " returned");
        }
    }
}
