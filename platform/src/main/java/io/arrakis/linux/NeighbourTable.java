package io.arrakis.linux;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The kernel's IPv4 neighbour (ARP) table of one interface, over rtnetlink: {@link #lookup}
 * dumps it ({@code RTM_GETNEIGH}) and returns the MAC of an address the kernel has resolved;
 * {@link #resolve} asks the kernel to resolve one ({@code RTM_NEWNEIGH} with {@code NTF_USE}:
 * the kernel creates the entry if needed and sends its own ARP request, whose reply it
 * receives). For a user-level stack on an address shared with the kernel, whose own ARP
 * replies go to the kernel. The socket is opened in the caller's network namespace and keeps
 * it.
 *
 * <p>Not thread-safe: one user at a time (calls are short and rare: on a neighbour miss).
 */
public final class NeighbourTable implements AutoCloseable {
    private static final int AF_NETLINK = 16;
    private static final int NETLINK_ROUTE = 0;
    private static final short RTM_NEWNEIGH = 28;
    private static final short RTM_GETNEIGH = 30;
    private static final short NLMSG_ERROR = 2;
    private static final short NLMSG_DONE = 3;
    private static final short NLM_F_REQUEST = 0x1;
    private static final short NLM_F_ACK = 0x4;
    private static final short NLM_F_DUMP = 0x300;
    private static final short NLM_F_CREATE = 0x400;
    private static final short NDA_DST = 1;
    private static final short NDA_LLADDR = 2;
    private static final int NTF_USE = 0x01;
    /** States in which the kernel's MAC is usable: reachable, stale, delay, probe, noarp, permanent. */
    private static final int NUD_USABLE = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt BE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final int fd;
    private final int ifindex;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment request = arena.allocate(64, 8);
    private final MemorySegment reply = arena.allocate(32 * 1024, 8);
    private int sequence;

    private NeighbourTable(int fd, int ifindex) {
        this.fd = fd;
        this.ifindex = ifindex;
    }

    /** Opens an rtnetlink socket for interface {@code ifindex} of the caller's namespace. */
    public static NeighbourTable open(int ifindex) throws LinuxException {
        int fd = Sockets.socket(AF_NETLINK, Sockets.SOCK_RAW | Sockets.SOCK_CLOEXEC, NETLINK_ROUTE);
        return new NeighbourTable(fd, ifindex);
    }

    /** The MAC (48 bits) the kernel holds for IPv4 {@code address} (host order) on our interface, or -1. */
    public long lookup(int address) throws IOException {
        request.fill((byte) 0);
        int length = header(RTM_GETNEIGH, (short) (NLM_F_REQUEST | NLM_F_DUMP), 16 + 12);
        send(length, "dump the neighbour table");
        long found = -1;
        while (true) {
            long n = Sockets.recv(fd, reply, 0);
            if (n <= 0) {
                throw new IOException("rtnetlink: the neighbour dump ended without NLMSG_DONE");
            }
            for (long at = 0; at + 16 <= n; ) {
                int messageLength = reply.get(U32, at);
                short type = reply.get(U16, at + 4);
                if (messageLength < 16 || at + messageLength > n) {
                    throw new IOException("rtnetlink: malformed message of " + messageLength + " bytes in the dump");
                }
                if (type == NLMSG_DONE) {
                    return found;
                }
                if (type == NLMSG_ERROR) {
                    throw new IOException("rtnetlink neighbour dump failed: errno " + -reply.get(U32, at + 16));
                }
                if (type == RTM_NEWNEIGH && found < 0) {
                    found = entryFor(at, messageLength, address);
                }
                at += align(messageLength);
            }
        }
    }

    private long entryFor(long at, int messageLength, int address) {
        long ndmsg = at + 16;
        if (reply.get(ValueLayout.JAVA_BYTE, ndmsg) != Sockets.AF_INET || reply.get(U32, ndmsg + 4) != ifindex
                || (reply.get(U16, ndmsg + 8) & NUD_USABLE) == 0) {
            return -1;
        }
        boolean ours = false;
        long mac = -1;
        for (long attribute = ndmsg + 12; attribute + 4 <= at + messageLength; ) {
            int length = reply.get(U16, attribute) & 0xFFFF;
            int type = reply.get(U16, attribute + 2) & 0x3FFF;
            if (length < 4 || attribute + length > at + messageLength) {
                break;
            }
            if (type == NDA_DST && length == 8) {
                ours = reply.get(BE32, attribute + 4) == address;
            } else if (type == NDA_LLADDR && length == 10) {
                mac = 0;
                for (int i = 0; i < 6; i++) {
                    mac = mac << 8 | (reply.get(ValueLayout.JAVA_BYTE, attribute + 4 + i) & 0xFF);
                }
            }
            attribute += align(length);
        }
        return ours ? mac : -1;
    }

    /** Asks the kernel to resolve {@code address} on our interface (it sends its own ARP request). */
    public void resolve(int address) throws IOException {
        request.fill((byte) 0);
        int length = header(RTM_NEWNEIGH, (short) (NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK), 16 + 12 + 8);
        request.set(ValueLayout.JAVA_BYTE, 16 + 11, (byte) 0); // ndm_type
        request.set(ValueLayout.JAVA_BYTE, 16 + 10, (byte) NTF_USE);
        request.set(U16, 16 + 12, (short) 8);
        request.set(U16, 16 + 14, NDA_DST);
        request.set(BE32, 16 + 16, address);
        send(length, "resolve a neighbour");
        long n = Sockets.recv(fd, reply, 0);
        if (n >= 20 && reply.get(U16, 4) == NLMSG_ERROR) {
            int errno = -reply.get(U32, 16);
            if (errno != 0) {
                throw new IOException("rtnetlink: the kernel refused to resolve a neighbour on interface " + ifindex
                        + ": " + Errno.name(errno));
            }
        }
    }

    /** Writes nlmsghdr and ndmsg (family AF_INET, our interface); returns the message length. */
    private int header(short type, short flags, int length) {
        request.set(U32, 0, length);
        request.set(U16, 4, type);
        request.set(U16, 6, flags);
        request.set(U32, 8, ++sequence);
        request.set(U32, 12, 0);
        request.set(ValueLayout.JAVA_BYTE, 16, (byte) Sockets.AF_INET);
        request.set(U32, 16 + 4, ifindex);
        return length;
    }

    private void send(int length, String what) throws IOException {
        long n = Sockets.send(fd, request.asSlice(0, length), 0);
        if (n != length) {
            throw new IOException("rtnetlink: could not " + what + " (sent " + n + " of " + length + " bytes)");
        }
    }

    private static long align(long length) {
        return (length + 3) & ~3L;
    }

    @Override
    public void close() throws IOException {
        Unistd.close(fd);
        arena.close();
    }
}
