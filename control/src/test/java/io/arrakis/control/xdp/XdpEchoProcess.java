package io.arrakis.control.xdp;

import io.arrakis.device.DeviceBackends;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.PacketBatch;
import io.arrakis.device.VnicConfig;
import io.arrakis.device.VnicQueue;
import io.arrakis.device.xdp.AfXdpVnic;
import io.arrakis.device.xdp.AfXdpVnicBackend;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A child JVM for {@code io.arrakis.control.XdpFilterOwnerTest}: opens an af_xdp VNIC on queue 0 of an interface
 * with {@code filters=external} (it has no program or map of its own), prints
 * {@code attached pid=<pid> fd=<socket fd> binds=<bind attempts> ms=<time to open>}, then echoes every UDP datagram
 * it receives (swapping addresses and ports in place) until killed or its input closes.
 *
 * <p>Arguments: network namespace, interface; and, to be admitted by a control plane instead of
 * by the test, the control plane's socket and our address (shared with the kernel's: the child
 * claims UDP port 7000 of it through the control plane, then tries a flow to another address and
 * prints {@code foreign-flow refused: <reason>} or {@code foreign-flow accepted}).
 */
public final class XdpEchoProcess {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private XdpEchoProcess() {}

    public static void main(String[] args) throws Exception {
        long start = System.nanoTime();
        Map<String, String> options = new HashMap<>(Map.of(AfXdpVnicBackend.OPTION_NETNS, args[0],
                AfXdpVnicBackend.OPTION_INTERFACE, args[1], AfXdpVnicBackend.OPTION_FILTERS, "external",
                AfXdpVnicBackend.OPTION_BUSY_WINDOW_MS, "10000"));
        boolean throughControlPlane = args.length >= 4;
        if (throughControlPlane) {
            options.put(AfXdpVnicBackend.OPTION_CONTROL_SOCKET, args[2]);
            options.put(AfXdpVnicBackend.OPTION_ADDRESS, args[3] + "/24");
            options.put(AfXdpVnicBackend.OPTION_CLAIM, "none");
            options.put(AfXdpVnicBackend.OPTION_XDP_MODE, "native");
        } else {
            options.put(AfXdpVnicBackend.OPTION_CONTROL_SOCKET, "none");
        }
        AfXdpVnic vnic = (AfXdpVnic) DeviceBackends.vnicBackend(AfXdpVnicBackend.NAME).open(new VnicConfig("child", 1,
                256, 2048, options));
        if (throughControlPlane) {
            int address = Ipv4Text.parse(args[3]);
            vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.UDP, address, 7000, 0, 0), 0);
            try {
                vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.UDP, address + 1, 7001, 0, 0), 0);
                System.out.println("foreign-flow accepted");
            } catch (java.io.IOException refused) {
                System.out.println("foreign-flow refused: " + refused.getMessage());
            }
        }
        System.out.println("attached pid=" + ProcessHandle.current().pid() + " fd=" + vnic.socketFd(0) + " binds=" + vnic.bindAttempts(0) + " ms="
                + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
        Thread.ofPlatform().daemon().start(() -> {
            try {
                while (System.in.read() >= 0) {
                    // Keep reading: the parent closing our input means quit.
                }
            } catch (java.io.IOException ignored) {
                // Quit all the same.
            }
            System.exit(0);
        });
        VnicQueue queue = vnic.queue(0);
        PacketBatch batch = new PacketBatch(32);
        PacketBatch out = new PacketBatch(32);
        PacketBatch drop = new PacketBatch(32);
        while (true) {
            if (queue.receive(batch) == 0) {
                queue.awaitReceive(TimeUnit.MILLISECONDS.toNanos(100));
                continue;
            }
            for (int i = 0; i < batch.size(); i++) {
                MemorySegment frame = queue.memory().asSlice((long) batch.buffer(i) * queue.bufferSize()
                        + batch.offset(i), batch.length(i));
                if (frame.byteSize() >= 42 && (frame.get(U16, 12) & 0xFFFF) == 0x0800
                        && frame.get(ValueLayout.JAVA_BYTE, 23) == 17) {
                    swap(frame);
                    out.add(batch.buffer(i), batch.offset(i), batch.length(i));
                } else {
                    drop.add(batch.buffer(i), batch.offset(i), batch.length(i));
                }
            }
            batch.clear();
            queue.release(drop);
            while (!out.isEmpty()) {
                queue.transmit(out);
            }
        }
    }

    private static void swap(MemorySegment frame) {
        for (int i = 0; i < 6; i++) {
            byte b = frame.get(ValueLayout.JAVA_BYTE, i);
            frame.set(ValueLayout.JAVA_BYTE, i, frame.get(ValueLayout.JAVA_BYTE, 6 + i));
            frame.set(ValueLayout.JAVA_BYTE, 6 + i, b);
        }
        int source = frame.get(U32, 26);
        frame.set(U32, 26, frame.get(U32, 30));
        frame.set(U32, 30, source);
        short sourcePort = frame.get(U16, 34);
        frame.set(U16, 34, frame.get(U16, 36));
        frame.set(U16, 36, sourcePort);
    }
}
