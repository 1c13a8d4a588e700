package io.arrakis.stack.interop;

import io.arrakis.stack.NetworkStack;
import io.arrakis.stack.udp.UdpSocket;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A UDP echo server on our stack, run on the polling thread after every poll: each datagram
 * that reaches {@code socket} is recorded (a copy, with its sender) and sent back to its sender.
 */
final class EchoHook implements StackDriver.PollHook {
    /** One datagram as our socket delivered it. */
    record Received(int sourceAddress, int sourcePort, byte[] payload) {}

    private final UdpSocket socket;
    private final byte[] buffer = new byte[65_536];
    private final MemorySegment segment = MemorySegment.ofArray(buffer);
    final List<Received> received = new CopyOnWriteArrayList<>();
    /** Echoes {@code sendUdp} refused (no free packet buffer). */
    final AtomicInteger sendFailures = new AtomicInteger();

    EchoHook(UdpSocket socket) {
        this.socket = socket;
    }

    @Override
    public void afterPoll(NetworkStack stack) throws Exception {
        while (socket.isReadable()) {
            int length = socket.receive(segment, 0, buffer.length);
            if (length < 0) {
                socket.takeError(); // an ICMP error for an echo: the Linux sender had gone
                return;
            }
            received.add(new Received(socket.lastSourceAddress(), socket.lastSourcePort(),
                    Arrays.copyOf(buffer, length)));
            if (!stack.sendUdp(socket, socket.lastSourceAddress(), socket.lastSourcePort(), segment, 0, length)) {
                sendFailures.incrementAndGet();
            }
        }
    }
}
