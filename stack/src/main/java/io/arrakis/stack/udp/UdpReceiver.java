package io.arrakis.stack.udp;

import java.lang.foreign.MemorySegment;

/**
 * The native (Arrakis/N) receive path for UDP: the stack hands each datagram to the application
 * in the packet buffer it arrived in, during {@code NetworkStack.poll}, instead of copying it
 * into the socket's receive buffer. The bytes are valid only during the call: the buffer goes
 * back to the device when the poll ends. Called on the stack's polling thread.
 */
@FunctionalInterface
public interface UdpReceiver {
    /** {@code length} payload bytes at {@code memory[offset]}, from {@code sourceAddress:sourcePort}. */
    void datagram(MemorySegment memory, long offset, int length, int sourceAddress, int sourcePort);
}
