package io.arrakis.linux;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * BSD sockets: {@code sys/socket.h}, {@code sys/un.h}, {@code netinet/in.h}, and descriptor
 * passing over Unix sockets ({@code SCM_RIGHTS}, see {@code unix(7)}).
 *
 * <p>Thread-safe: every call is independent, and the scratch memory the option and
 * descriptor-passing calls need is per thread, so they, like {@link #send} and {@link #recv},
 * allocate no native memory per call; binding, connecting and naming use a confined arena.
 * Like {@link Unistd}, the data calls return {@code -1} for {@code EAGAIN} and retry
 * {@code EINTR}.
 */
public final class Sockets {
    // bits/socket.h (address families; the same values on every Linux architecture)
    public static final int AF_UNIX = 1;
    public static final int AF_INET = 2;
    public static final int AF_INET6 = 10;
    public static final int AF_PACKET = 17;
    public static final int AF_XDP = 44;

    // bits/socket_type.h
    public static final int SOCK_STREAM = 1;
    public static final int SOCK_DGRAM = 2;
    public static final int SOCK_RAW = 3;
    public static final int SOCK_SEQPACKET = 5;
    public static final int SOCK_NONBLOCK = 04000;
    public static final int SOCK_CLOEXEC = 02000000;

    // asm-generic/socket.h (x86_64 and aarch64 both use the generic numbering)
    public static final int SOL_SOCKET = 1;
    public static final int SO_TYPE = 3;
    public static final int SO_ERROR = 4;
    public static final int SO_REUSEADDR = 2;
    public static final int SO_SNDBUF = 7;
    public static final int SO_RCVBUF = 8;
    public static final int SO_KEEPALIVE = 9;
    public static final int SO_REUSEPORT = 15;
    public static final int SO_PASSCRED = 16;
    public static final int SO_PEERCRED = 17;
    public static final int SO_ACCEPTCONN = 30;
    public static final int SO_PROTOCOL = 38;
    public static final int SO_DOMAIN = 39;
    public static final int SO_BUSY_POLL = 46;
    /** linux/socket.h: the level of AF_XDP socket options (XDP_UMEM_REG, XDP_RX_RING, ...). */
    public static final int SOL_XDP = 283;

    // netinet/in.h, netinet/tcp.h
    public static final int IPPROTO_TCP = 6;
    public static final int IPPROTO_UDP = 17;
    public static final int TCP_NODELAY = 1;

    // bits/socket.h: ancillary message types at SOL_SOCKET
    public static final int SCM_RIGHTS = 1;
    public static final int SCM_CREDENTIALS = 2;

    // bits/socket.h: send/recv flags
    public static final int MSG_PEEK = 0x2;
    public static final int MSG_CTRUNC = 0x8;
    public static final int MSG_TRUNC = 0x20;
    public static final int MSG_DONTWAIT = 0x40;
    public static final int MSG_WAITALL = 0x100;
    public static final int MSG_NOSIGNAL = 0x4000;
    public static final int MSG_CMSG_CLOEXEC = 0x40000000;

    // sys/socket.h
    public static final int SHUT_RD = 0;
    public static final int SHUT_WR = 1;
    public static final int SHUT_RDWR = 2;

    /** linux/net/scm.h SCM_MAX_FD: the kernel refuses more descriptors in one message. */
    public static final int MAX_FDS_PER_MESSAGE = 253;

    /** bits/socket.h struct msghdr (LP64). */
    public static final StructLayout MSGHDR = MemoryLayout.structLayout(
            Native.C_POINTER.withName("msg_name"),
            ValueLayout.JAVA_INT.withName("msg_namelen"),
            MemoryLayout.paddingLayout(4),
            Native.C_POINTER.withName("msg_iov"),
            Native.C_SIZE_T.withName("msg_iovlen"),
            Native.C_POINTER.withName("msg_control"),
            Native.C_SIZE_T.withName("msg_controllen"),
            ValueLayout.JAVA_INT.withName("msg_flags"),
            MemoryLayout.paddingLayout(4));
    /** bits/types/struct_iovec.h struct iovec. */
    public static final StructLayout IOVEC = MemoryLayout.structLayout(
            Native.C_POINTER.withName("iov_base"),
            Native.C_SIZE_T.withName("iov_len"));
    /** bits/socket.h struct cmsghdr; the data follows, aligned to {@code size_t}. */
    public static final StructLayout CMSGHDR = MemoryLayout.structLayout(
            Native.C_SIZE_T.withName("cmsg_len"),
            ValueLayout.JAVA_INT.withName("cmsg_level"),
            ValueLayout.JAVA_INT.withName("cmsg_type"));
    /** bits/socket.h struct ucred. */
    public static final StructLayout UCRED = MemoryLayout.structLayout(
            ValueLayout.JAVA_INT.withName("pid"),
            ValueLayout.JAVA_INT.withName("uid"),
            ValueLayout.JAVA_INT.withName("gid"));

    private static final long MSG_NAME = offset(MSGHDR, "msg_name");
    private static final long MSG_NAMELEN = offset(MSGHDR, "msg_namelen");
    private static final long MSG_IOV = offset(MSGHDR, "msg_iov");
    private static final long MSG_IOVLEN = offset(MSGHDR, "msg_iovlen");
    private static final long MSG_CONTROL = offset(MSGHDR, "msg_control");
    private static final long MSG_CONTROLLEN = offset(MSGHDR, "msg_controllen");
    private static final long MSG_FLAGS = offset(MSGHDR, "msg_flags");
    private static final long CMSG_LEN = offset(CMSGHDR, "cmsg_len");
    private static final long CMSG_LEVEL = offset(CMSGHDR, "cmsg_level");
    private static final long CMSG_TYPE = offset(CMSGHDR, "cmsg_type");

    /** sys/un.h: sun_path is 108 bytes; bits/socket.h sockaddr_storage is 128. */
    private static final int SUN_PATH_SIZE = 108;
    private static final int SOCKADDR_STORAGE_SIZE = 128;

    /** Room for the most descriptors one message can carry, plus credentials if SO_PASSCRED is on. */
    private static final long CONTROL_CAPACITY =
            cmsgSpace(4L * MAX_FDS_PER_MESSAGE) + cmsgSpace(UCRED.byteSize());
    private static final long SCRATCH_MSGHDR = 0;
    private static final long SCRATCH_IOVEC = MSGHDR.byteSize();
    private static final long SCRATCH_CONTROL = SCRATCH_IOVEC + IOVEC.byteSize();
    private static final ThreadLocal<MemorySegment> MESSAGE_SCRATCH = ThreadLocal.withInitial(
            () -> Arena.global().allocate(SCRATCH_CONTROL + CONTROL_CAPACITY, 8));
    /** An option value (up to 16 bytes) at 0 and its socklen_t at 16. */
    private static final ThreadLocal<MemorySegment> OPTION_SCRATCH =
            ThreadLocal.withInitial(() -> Arena.global().allocate(24, 8));

    private static final MethodHandle SOCKET = Native.function("socket",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_INT, Native.C_INT));
    private static final MethodHandle SOCKETPAIR = Native.function("socketpair",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_INT, Native.C_INT, Native.C_POINTER));
    private static final MethodHandle BIND = Native.function("bind",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_POINTER, Native.C_INT));
    private static final MethodHandle LISTEN = Native.function("listen",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_INT));
    private static final MethodHandle ACCEPT4 = Native.function("accept4",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_POINTER, Native.C_POINTER, Native.C_INT));
    private static final MethodHandle CONNECT = Native.function("connect",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_POINTER, Native.C_INT));
    private static final MethodHandle SETSOCKOPT = Native.function("setsockopt", FunctionDescriptor.of(
            Native.C_INT, Native.C_INT, Native.C_INT, Native.C_INT, Native.C_POINTER, Native.C_INT));
    private static final MethodHandle GETSOCKOPT = Native.function("getsockopt", FunctionDescriptor.of(
            Native.C_INT, Native.C_INT, Native.C_INT, Native.C_INT, Native.C_POINTER, Native.C_POINTER));
    private static final MethodHandle GETSOCKNAME = Native.function("getsockname",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_POINTER, Native.C_POINTER));
    private static final MethodHandle GETPEERNAME = Native.function("getpeername",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_POINTER, Native.C_POINTER));
    private static final MethodHandle SHUTDOWN = Native.function("shutdown",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_INT));
    private static final MethodHandle SEND = Native.function("send", FunctionDescriptor.of(
            Native.C_LONG, Native.C_INT, Native.C_POINTER, Native.C_SIZE_T, Native.C_INT));
    private static final MethodHandle RECV = Native.function("recv", FunctionDescriptor.of(
            Native.C_LONG, Native.C_INT, Native.C_POINTER, Native.C_SIZE_T, Native.C_INT));
    private static final MethodHandle SENDMSG = Native.function("sendmsg",
            FunctionDescriptor.of(Native.C_LONG, Native.C_INT, Native.C_POINTER, Native.C_INT));
    private static final MethodHandle RECVMSG = Native.function("recvmsg",
            FunctionDescriptor.of(Native.C_LONG, Native.C_INT, Native.C_POINTER, Native.C_INT));

    private Sockets() {}

    // ---------------------------------------------------------------------------------------
    // Addresses

    /** A socket address that can be written as the C {@code struct sockaddr} a call expects. */
    public sealed interface SocketAddress permits UnixAddress, Ipv4Address, OtherAddress {
        /** The address family, e.g. {@link #AF_UNIX}. */
        int family();

        /** Writes the sockaddr at the start of {@code storage}; returns the length to pass as socklen_t. */
        int encode(MemorySegment storage);
    }

    /**
     * An {@code AF_UNIX} address ({@code sys/un.h struct sockaddr_un}): a filesystem path, a name
     * in the abstract namespace (no file; gone when the last socket closes), or unnamed.
     */
    public record UnixAddress(String name, boolean isAbstract) implements SocketAddress {
        /** What getsockname reports for a socketpair end or an unbound socket. */
        public static final UnixAddress UNNAMED = new UnixAddress("", false);

        public UnixAddress {
            // The path needs a terminating NUL; an abstract name needs the leading one.
            int max = SUN_PATH_SIZE - 1;
            if (name.getBytes(StandardCharsets.UTF_8).length > max) {
                throw new IllegalArgumentException("AF_UNIX name \"" + name + "\" is longer than " + max
                        + " bytes (sun_path holds " + SUN_PATH_SIZE + ")");
            }
            if (isAbstract && name.isEmpty()) {
                throw new IllegalArgumentException("an empty abstract name would mean autobind; bind UNNAMED");
            }
        }

        public static UnixAddress path(String path) {
            if (path.isEmpty() || path.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("AF_UNIX path must be non-empty and NUL-free: \"" + path + "\"");
            }
            return new UnixAddress(path, false);
        }

        public static UnixAddress abstractName(String name) {
            return new UnixAddress(name, true);
        }

        @Override
        public int family() {
            return AF_UNIX;
        }

        @Override
        public int encode(MemorySegment storage) {
            byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
            storage.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
            if (name.isEmpty()) {
                return 2;
            }
            if (isAbstract) {
                // The length, not a terminator, delimits an abstract name: every byte counts.
                storage.set(ValueLayout.JAVA_BYTE, 2, (byte) 0);
                MemorySegment.copy(bytes, 0, storage, ValueLayout.JAVA_BYTE, 3, bytes.length);
                return 3 + bytes.length;
            }
            MemorySegment.copy(bytes, 0, storage, ValueLayout.JAVA_BYTE, 2, bytes.length);
            storage.set(ValueLayout.JAVA_BYTE, 2 + bytes.length, (byte) 0);
            return 2 + bytes.length + 1;
        }

        /** As {@code ss(8)} prints it: the path, {@code @name} when abstract, {@code (unnamed)}. */
        @Override
        public String toString() {
            return name.isEmpty() ? "(unnamed)" : isAbstract ? "@" + name : name;
        }
    }

    /**
     * An {@code AF_INET} address ({@code netinet/in.h struct sockaddr_in}). {@code address} is the
     * IPv4 address as a host-order int (127.0.0.1 is {@code 0x7f000001}); encoding puts it and the
     * port in network byte order.
     */
    public record Ipv4Address(int address, int port) implements SocketAddress {
        public static final int ANY = 0;
        public static final int LOOPBACK = 0x7f000001;

        public Ipv4Address {
            if (port < 0 || port > 0xffff) {
                throw new IllegalArgumentException("port " + port + " is outside 0..65535");
            }
        }

        public static Ipv4Address loopback(int port) {
            return new Ipv4Address(LOOPBACK, port);
        }

        /** Parses a dotted quad such as {@code "198.18.0.1"}; never resolves names. */
        public static Ipv4Address of(String dottedQuad, int port) {
            String[] parts = dottedQuad.split("\\.", -1);
            if (parts.length != 4) {
                throw new IllegalArgumentException("not a dotted-quad IPv4 address: \"" + dottedQuad + "\"");
            }
            int address = 0;
            for (String part : parts) {
                int octet;
                try {
                    octet = part.isEmpty() || part.length() > 3 ? -1 : Integer.parseInt(part);
                } catch (NumberFormatException e) {
                    octet = -1;
                }
                if (octet < 0 || octet > 255) {
                    throw new IllegalArgumentException("not a dotted-quad IPv4 address: \"" + dottedQuad + "\"");
                }
                address = (address << 8) | octet;
            }
            return new Ipv4Address(address, port);
        }

        @Override
        public int family() {
            return AF_INET;
        }

        @Override
        public int encode(MemorySegment storage) {
            storage.asSlice(0, 16).fill((byte) 0);
            storage.set(ValueLayout.JAVA_SHORT, 0, (short) AF_INET);
            storage.set(NETWORK_SHORT, 2, (short) port);
            storage.set(NETWORK_INT, 4, address);
            return 16;
        }

        @Override
        public String toString() {
            return (address >>> 24) + "." + ((address >>> 16) & 0xff) + "." + ((address >>> 8) & 0xff) + "."
                    + (address & 0xff) + ":" + port;
        }
    }

    /** An address of a family this class does not decode (AF_INET6, AF_PACKET...), kept as raw bytes. */
    public record OtherAddress(int family, byte[] bytes) implements SocketAddress {
        public OtherAddress {
            bytes = bytes.clone();
        }

        @Override
        public byte[] bytes() {
            return bytes.clone();
        }

        @Override
        public int encode(MemorySegment storage) {
            MemorySegment.copy(bytes, 0, storage, ValueLayout.JAVA_BYTE, 0, bytes.length);
            return bytes.length;
        }

        @Override
        public String toString() {
            return "family " + family + " " + HexFormat.of().formatHex(bytes);
        }
    }

    private static final ValueLayout.OfShort NETWORK_SHORT =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt NETWORK_INT =
            ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    /** Reads the sockaddr of {@code length} bytes that a call such as getsockname wrote. */
    public static SocketAddress decode(MemorySegment storage, int length) {
        int family = length >= 2 ? Short.toUnsignedInt(storage.get(ValueLayout.JAVA_SHORT, 0)) : 0;
        if (family == AF_UNIX) {
            if (length <= 2) {
                return UnixAddress.UNNAMED;
            }
            if (storage.get(ValueLayout.JAVA_BYTE, 2) == 0) {
                byte[] name = storage.asSlice(3, length - 3).toArray(ValueLayout.JAVA_BYTE);
                return new UnixAddress(new String(name, StandardCharsets.UTF_8), true);
            }
            int end = 2;
            while (end < length && storage.get(ValueLayout.JAVA_BYTE, end) != 0) {
                end++;
            }
            byte[] path = storage.asSlice(2, end - 2).toArray(ValueLayout.JAVA_BYTE);
            return new UnixAddress(new String(path, StandardCharsets.UTF_8), false);
        }
        if (family == AF_INET && length >= 8) {
            return new Ipv4Address(storage.get(NETWORK_INT, 4), Short.toUnsignedInt(storage.get(NETWORK_SHORT, 2)));
        }
        return new OtherAddress(family, storage.asSlice(0, length).toArray(ValueLayout.JAVA_BYTE));
    }

    // ---------------------------------------------------------------------------------------
    // Creating, naming and connecting

    public static int socket(int domain, int type, int protocol) throws LinuxException {
        int fd;
        try {
            fd = (int) SOCKET.invokeExact(Native.errnoState(), domain, type, protocol);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (fd < 0) {
            throw new LinuxException("socket(domain=" + familyName(domain) + ", type=" + typeName(type)
                    + ", protocol=" + protocol + ")", Native.errno());
        }
        return fd;
    }

    /** A pair of connected sockets; returns {@code {one, other}}. */
    public static int[] socketpair(int domain, int type, int protocol) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(ValueLayout.JAVA_INT, 2);
            int result;
            try {
                result = (int) SOCKETPAIR.invokeExact(Native.errnoState(), domain, type, protocol, fds);
            } catch (Throwable t) {
                throw Native.unreachable(t);
            }
            if (result != 0) {
                throw new LinuxException("socketpair(domain=" + familyName(domain) + ", type=" + typeName(type)
                        + ", protocol=" + protocol + ")", Native.errno());
            }
            return new int[] {fds.getAtIndex(ValueLayout.JAVA_INT, 0), fds.getAtIndex(ValueLayout.JAVA_INT, 1)};
        }
    }

    public static void bind(int fd, SocketAddress address) throws LinuxException {
        int result;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sockaddr = arena.allocate(SOCKADDR_STORAGE_SIZE, 8);
            int length = address.encode(sockaddr);
            result = (int) BIND.invokeExact(Native.errnoState(), fd, sockaddr, length);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            throw new LinuxException("bind(fd=" + fd + ", address=" + address + ")", Native.errno());
        }
    }

    public static void listen(int fd, int backlog) throws LinuxException {
        int result;
        try {
            result = (int) LISTEN.invokeExact(Native.errnoState(), fd, backlog);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            throw new LinuxException("listen(fd=" + fd + ", backlog=" + backlog + ")", Native.errno());
        }
    }

    /**
     * Accepts a connection ({@code flags}: {@link #SOCK_NONBLOCK}, {@link #SOCK_CLOEXEC}); returns
     * the new descriptor, or -1 when a non-blocking listener has none pending. EINTR is retried.
     * Use {@link #peerName} for the peer's address.
     */
    public static int accept4(int fd, int flags) throws LinuxException {
        while (true) {
            int accepted;
            try {
                accepted = (int) ACCEPT4.invokeExact(Native.errnoState(), fd, MemorySegment.NULL,
                        MemorySegment.NULL, flags);
            } catch (Throwable t) {
                throw Native.unreachable(t);
            }
            if (accepted >= 0) {
                return accepted;
            }
            int errno = Native.errno();
            if (errno == Errno.EAGAIN) {
                return -1;
            }
            if (errno != Errno.EINTR) {
                throw new LinuxException("accept4(fd=" + fd + ", flags=0x" + Integer.toHexString(flags) + ")", errno);
            }
        }
    }

    /**
     * Connects; returns {@code true} when connected, {@code false} when a non-blocking socket's
     * connection is under way (EINPROGRESS, or EINTR, after which the kernel carries on): wait for
     * it to become writable, then read {@link #SO_ERROR}.
     */
    public static boolean connect(int fd, SocketAddress address) throws LinuxException {
        int result;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sockaddr = arena.allocate(SOCKADDR_STORAGE_SIZE, 8);
            int length = address.encode(sockaddr);
            result = (int) CONNECT.invokeExact(Native.errnoState(), fd, sockaddr, length);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result == 0) {
            return true;
        }
        int errno = Native.errno();
        if (errno == Errno.EINPROGRESS || errno == Errno.EINTR) {
            return false;
        }
        throw new LinuxException("connect(fd=" + fd + ", address=" + address + ")", errno);
    }

    /** The address the socket is bound to ({@code getsockname}): how to learn the port after binding port 0. */
    public static SocketAddress localName(int fd) throws LinuxException {
        return name(GETSOCKNAME, "getsockname", fd);
    }

    /** The address of the connected peer ({@code getpeername}). */
    public static SocketAddress peerName(int fd) throws LinuxException {
        return name(GETPEERNAME, "getpeername", fd);
    }

    private static SocketAddress name(MethodHandle handle, String call, int fd) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sockaddr = arena.allocate(SOCKADDR_STORAGE_SIZE, 8);
            MemorySegment length = arena.allocate(ValueLayout.JAVA_INT);
            length.set(ValueLayout.JAVA_INT, 0, SOCKADDR_STORAGE_SIZE);
            int result;
            try {
                result = (int) handle.invokeExact(Native.errnoState(), fd, sockaddr, length);
            } catch (Throwable t) {
                throw Native.unreachable(t);
            }
            if (result != 0) {
                throw new LinuxException(call + "(fd=" + fd + ")", Native.errno());
            }
            return decode(sockaddr, Math.min(length.get(ValueLayout.JAVA_INT, 0), SOCKADDR_STORAGE_SIZE));
        }
    }

    public static void shutdown(int fd, int how) throws LinuxException {
        int result;
        try {
            result = (int) SHUTDOWN.invokeExact(Native.errnoState(), fd, how);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            String name = switch (how) {
                case SHUT_RD -> "SHUT_RD";
                case SHUT_WR -> "SHUT_WR";
                case SHUT_RDWR -> "SHUT_RDWR";
                default -> String.valueOf(how);
            };
            throw new LinuxException("shutdown(fd=" + fd + ", how=" + name + ")", Native.errno());
        }
    }

    // ---------------------------------------------------------------------------------------
    // Options

    public static void setsockopt(int fd, int level, int option, int value) throws LinuxException {
        MemorySegment scratch = OPTION_SCRATCH.get();
        scratch.set(ValueLayout.JAVA_INT, 0, value);
        int result;
        try {
            result = (int) SETSOCKOPT.invokeExact(Native.errnoState(), fd, level, option, scratch, 4);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            throw new LinuxException("setsockopt(fd=" + fd + ", " + optionName(level, option) + ", value=" + value
                    + ")", Native.errno());
        }
    }

    /** Sets an option whose value is a struct (e.g. AF_XDP's {@code XDP_UMEM_REG}): all of {@code value}. */
    public static void setsockopt(int fd, int level, int option, MemorySegment value) throws LinuxException {
        int result;
        try {
            result = (int) SETSOCKOPT.invokeExact(Native.errnoState(), fd, level, option, value,
                    Math.toIntExact(value.byteSize()));
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            throw new LinuxException("setsockopt(fd=" + fd + ", " + optionName(level, option) + ", length="
                    + value.byteSize() + ")", Native.errno());
        }
    }

    /** Reads an int-valued option. */
    public static int getsockopt(int fd, int level, int option) throws LinuxException {
        MemorySegment scratch = OPTION_SCRATCH.get();
        scratch.set(ValueLayout.JAVA_INT, 0, 0);
        scratch.set(ValueLayout.JAVA_INT, 16, 4);
        int result;
        try {
            result = (int) GETSOCKOPT.invokeExact(Native.errnoState(), fd, level, option, scratch,
                    scratch.asSlice(16, 4));
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            throw new LinuxException("getsockopt(fd=" + fd + ", " + optionName(level, option) + ")", Native.errno());
        }
        return scratch.get(ValueLayout.JAVA_INT, 0);
    }

    /** Reads a struct-valued option into {@code value}; returns the length the kernel wrote. */
    public static int getsockopt(int fd, int level, int option, MemorySegment value) throws LinuxException {
        MemorySegment scratch = OPTION_SCRATCH.get();
        MemorySegment length = scratch.asSlice(16, 4);
        length.set(ValueLayout.JAVA_INT, 0, Math.toIntExact(value.byteSize()));
        int result;
        try {
            result = (int) GETSOCKOPT.invokeExact(Native.errnoState(), fd, level, option, value, length);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result != 0) {
            throw new LinuxException("getsockopt(fd=" + fd + ", " + optionName(level, option) + ", length="
                    + value.byteSize() + ")", Native.errno());
        }
        return length.get(ValueLayout.JAVA_INT, 0);
    }

    /** Who is on the other end of a connected Unix socket, as of connect or socketpair time. */
    public record Credentials(int pid, int uid, int gid) {}

    /** {@link #SO_PEERCRED}: the pid, uid and gid of the process that connected (or created the pair). */
    public static Credentials peerCredentials(int fd) throws LinuxException {
        MemorySegment ucred = OPTION_SCRATCH.get().asSlice(0, UCRED.byteSize());
        int length = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ucred);
        if (length < UCRED.byteSize()) {
            throw new IllegalStateException("getsockopt(fd=" + fd + ", SOL_SOCKET, SO_PEERCRED) wrote " + length
                    + " bytes, expected " + UCRED.byteSize());
        }
        return readCredentials(ucred, 0);
    }

    // ---------------------------------------------------------------------------------------
    // Data

    /** Sends up to {@code data.byteSize()} bytes; -1 for EAGAIN. EINTR is retried. */
    public static long send(int fd, MemorySegment data, int flags) throws LinuxException {
        while (true) {
            long n;
            try {
                n = (long) SEND.invokeExact(Native.errnoState(), fd, data, data.byteSize(), flags);
            } catch (Throwable t) {
                throw Native.unreachable(t);
            }
            if (n >= 0) {
                return n;
            }
            int errno = Native.errno();
            if (errno == Errno.EAGAIN) {
                return -1;
            }
            if (errno != Errno.EINTR) {
                throw new LinuxException("send(fd=" + fd + ", count=" + data.byteSize() + ", flags=0x"
                        + Integer.toHexString(flags) + ")", errno);
            }
        }
    }

    /** Receives up to {@code buffer.byteSize()} bytes; 0 when the peer has shut down, -1 for EAGAIN. */
    public static long recv(int fd, MemorySegment buffer, int flags) throws LinuxException {
        while (true) {
            long n;
            try {
                n = (long) RECV.invokeExact(Native.errnoState(), fd, buffer, buffer.byteSize(), flags);
            } catch (Throwable t) {
                throw Native.unreachable(t);
            }
            if (n >= 0) {
                return n;
            }
            int errno = Native.errno();
            if (errno == Errno.EAGAIN) {
                return -1;
            }
            if (errno != Errno.EINTR) {
                throw new LinuxException("recv(fd=" + fd + ", count=" + buffer.byteSize() + ", flags=0x"
                        + Integer.toHexString(flags) + ")", errno);
            }
        }
    }

    /** {@code sendmsg} with a caller-built {@link #MSGHDR}; -1 for EAGAIN. EINTR is retried. */
    public static long sendmsg(int fd, MemorySegment msghdr, int flags) throws LinuxException {
        while (true) {
            long n;
            try {
                n = (long) SENDMSG.invokeExact(Native.errnoState(), fd, msghdr, flags);
            } catch (Throwable t) {
                throw Native.unreachable(t);
            }
            if (n >= 0) {
                return n;
            }
            int errno = Native.errno();
            if (errno == Errno.EAGAIN) {
                return -1;
            }
            if (errno != Errno.EINTR) {
                throw new LinuxException("sendmsg(fd=" + fd + ", flags=0x" + Integer.toHexString(flags) + ")", errno);
            }
        }
    }

    /**
     * {@code recvmsg} into a caller-built {@link #MSGHDR}; -1 for EAGAIN. EINTR is retried. The
     * kernel reports truncation in {@code msg_flags} ({@link #MSG_TRUNC}, {@link #MSG_CTRUNC}).
     */
    public static long recvmsg(int fd, MemorySegment msghdr, int flags) throws LinuxException {
        while (true) {
            long n;
            try {
                n = (long) RECVMSG.invokeExact(Native.errnoState(), fd, msghdr, flags);
            } catch (Throwable t) {
                throw Native.unreachable(t);
            }
            if (n >= 0) {
                return n;
            }
            int errno = Native.errno();
            if (errno == Errno.EAGAIN) {
                return -1;
            }
            if (errno != Errno.EINTR) {
                throw new LinuxException("recvmsg(fd=" + fd + ", flags=0x" + Integer.toHexString(flags) + ")", errno);
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Descriptor passing

    /**
     * Sends {@code data} with copies of {@code fds} attached ({@code SCM_RIGHTS}); the receiver
     * gets new descriptors for the same open files, and the caller keeps (and must still close)
     * its own. Returns the bytes sent, -1 for EAGAIN. The descriptors travel with the first byte,
     * so {@code data} must not be empty. Uses {@link #MSG_NOSIGNAL}: a closed peer is an EPIPE
     * exception, not a SIGPIPE.
     */
    public static long sendWithFds(int socket, MemorySegment data, int... fds) throws LinuxException {
        if (data.byteSize() == 0) {
            throw new IllegalArgumentException("sendWithFds needs at least one data byte: "
                    + "a stream socket drops descriptors sent without data");
        }
        if (fds.length > MAX_FDS_PER_MESSAGE) {
            throw new IllegalArgumentException(fds.length + " descriptors in one message; the kernel takes at most "
                    + MAX_FDS_PER_MESSAGE + " (SCM_MAX_FD)");
        }
        MemorySegment scratch = MESSAGE_SCRATCH.get();
        MemorySegment control = scratch.asSlice(SCRATCH_CONTROL, CONTROL_CAPACITY);
        long controlLength = 0;
        if (fds.length > 0) {
            controlLength = cmsgSpace(4L * fds.length);
            control.asSlice(0, controlLength).fill((byte) 0);
            control.set(Native.C_SIZE_T, CMSG_LEN, CMSGHDR.byteSize() + 4L * fds.length);
            control.set(ValueLayout.JAVA_INT, CMSG_LEVEL, SOL_SOCKET);
            control.set(ValueLayout.JAVA_INT, CMSG_TYPE, SCM_RIGHTS);
            MemorySegment.copy(fds, 0, control, ValueLayout.JAVA_INT, CMSGHDR.byteSize(), fds.length);
        }
        MemorySegment msghdr = prepareMessage(scratch, data, controlLength);
        while (true) {
            long n;
            try {
                n = (long) SENDMSG.invokeExact(Native.errnoState(), socket, msghdr, MSG_NOSIGNAL);
            } catch (Throwable t) {
                throw Native.unreachable(t);
            }
            if (n >= 0) {
                return n;
            }
            int errno = Native.errno();
            if (errno == Errno.EAGAIN) {
                return -1;
            }
            if (errno != Errno.EINTR) {
                throw new LinuxException("sendmsg(fd=" + socket + ", count=" + data.byteSize() + ", SCM_RIGHTS fds="
                        + Arrays.toString(fds) + ")", errno);
            }
        }
    }

    /**
     * What {@link #recvWithFds} received.
     *
     * @param bytes bytes read into the buffer; 0 when the peer shut down, -1 for EAGAIN
     * @param fds descriptors that arrived, now owned by the caller (close-on-exec is set)
     * @param credentials the sender's {@code SCM_CREDENTIALS}, only when {@link #SO_PASSCRED} is on; else null
     * @param dataTruncated a datagram was longer than the buffer and the rest was discarded ({@link #MSG_TRUNC})
     */
    public record ReceivedMessage(long bytes, int[] fds, Credentials credentials, boolean dataTruncated) {
        static final ReceivedMessage WOULD_BLOCK = new ReceivedMessage(-1, new int[0], null, false);

        public ReceivedMessage {
            fds = fds.clone();
        }

        @Override
        public int[] fds() {
            return fds.clone();
        }

        @Override
        public String toString() {
            return "ReceivedMessage[bytes=" + bytes + ", fds=" + Arrays.toString(fds) + ", credentials=" + credentials
                    + ", dataTruncated=" + dataTruncated + "]";
        }
    }

    /**
     * The peer attached more descriptors than {@link #recvWithFds} was asked to take. When the
     * kernel had to truncate ({@link #MSG_CTRUNC}) it dropped the descriptors that did not fit;
     * the call closed the ones that arrived, since the message is unusable either way.
     */
    public static final class ControlTruncatedException extends IOException {
        private static final long serialVersionUID = 1L;
        private final long bytes;

        ControlTruncatedException(String message, long bytes) {
            super(message);
            this.bytes = bytes;
        }

        /** The data bytes the same recvmsg consumed (they are in the caller's buffer). */
        public long bytes() {
            return bytes;
        }
    }

    /**
     * Receives data and up to {@code maxFds} descriptors ({@code SCM_RIGHTS}) with
     * {@link #MSG_CMSG_CLOEXEC}, so they do not leak into child processes.
     *
     * @throws ControlTruncatedException when the sender attached more than {@code maxFds}
     *     descriptors; none of them stays open
     */
    public static ReceivedMessage recvWithFds(int socket, MemorySegment buffer, int maxFds, int flags)
            throws LinuxException, ControlTruncatedException {
        if (maxFds < 0 || maxFds > MAX_FDS_PER_MESSAGE) {
            throw new IllegalArgumentException("maxFds " + maxFds + " is outside 0.." + MAX_FDS_PER_MESSAGE);
        }
        MemorySegment scratch = MESSAGE_SCRATCH.get();
        // The room for credentials is there so that turning SO_PASSCRED on does not truncate fds.
        long controlLength = (maxFds > 0 ? cmsgSpace(4L * maxFds) : 0) + cmsgSpace(UCRED.byteSize());
        scratch.asSlice(SCRATCH_CONTROL, controlLength).fill((byte) 0);
        MemorySegment msghdr = prepareMessage(scratch, buffer, controlLength);
        long n = recvmsg(socket, msghdr, flags | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            return ReceivedMessage.WOULD_BLOCK;
        }
        int msgFlags = msghdr.get(ValueLayout.JAVA_INT, MSG_FLAGS);
        long filled = Math.min(msghdr.get(Native.C_SIZE_T, MSG_CONTROLLEN), controlLength);
        MemorySegment control = scratch.asSlice(SCRATCH_CONTROL, filled);
        int[] fds = new int[0];
        Credentials credentials = null;
        long offset = 0;
        while (offset + CMSGHDR.byteSize() <= filled) {
            long length = control.get(Native.C_SIZE_T, offset + CMSG_LEN);
            if (length < CMSGHDR.byteSize() || offset + length > filled) {
                break;
            }
            int level = control.get(ValueLayout.JAVA_INT, offset + CMSG_LEVEL);
            int type = control.get(ValueLayout.JAVA_INT, offset + CMSG_TYPE);
            long dataOffset = offset + CMSGHDR.byteSize();
            long dataLength = length - CMSGHDR.byteSize();
            if (level == SOL_SOCKET && type == SCM_RIGHTS) {
                int count = (int) (dataLength / 4);
                int[] more = control.asSlice(dataOffset, 4L * count).toArray(ValueLayout.JAVA_INT);
                int[] all = Arrays.copyOf(fds, fds.length + count);
                System.arraycopy(more, 0, all, fds.length, count);
                fds = all;
            } else if (level == SOL_SOCKET && type == SCM_CREDENTIALS && dataLength >= UCRED.byteSize()) {
                credentials = readCredentials(control, dataOffset);
            }
            offset += cmsgSpace(dataLength);
        }
        boolean kernelTruncated = (msgFlags & MSG_CTRUNC) != 0;
        // The room reserved for credentials can also hold a few descriptors past maxFds: the
        // caller's limit is enforced here, with the same outcome as a kernel truncation.
        if (kernelTruncated || fds.length > maxFds) {
            for (int fd : fds) {
                try {
                    Unistd.close(fd);
                } catch (LinuxException ignored) {
                    // It was just installed for us; there is nothing more to do if closing fails.
                }
            }
            throw new ControlTruncatedException("recvmsg(fd=" + socket + ", maxFds=" + maxFds + "): "
                    + (kernelTruncated ? "MSG_CTRUNC: " : "") + "the sender attached more descriptors than maxFds="
                    + maxFds + "; " + (kernelTruncated ? "the kernel dropped the ones that did not fit, and " : "")
                    + "the " + fds.length + " that arrived " + Arrays.toString(fds) + " were closed (" + n
                    + " data bytes were consumed)", n);
        }
        return new ReceivedMessage(n, fds, credentials, (msgFlags & MSG_TRUNC) != 0);
    }

    private static MemorySegment prepareMessage(MemorySegment scratch, MemorySegment data, long controlLength) {
        MemorySegment msghdr = scratch.asSlice(SCRATCH_MSGHDR, MSGHDR.byteSize());
        MemorySegment iovec = scratch.asSlice(SCRATCH_IOVEC, IOVEC.byteSize());
        iovec.set(Native.C_POINTER, 0, data);
        iovec.set(Native.C_SIZE_T, Native.C_POINTER.byteSize(), data.byteSize());
        msghdr.set(Native.C_POINTER, MSG_NAME, MemorySegment.NULL);
        msghdr.set(ValueLayout.JAVA_INT, MSG_NAMELEN, 0);
        msghdr.set(Native.C_POINTER, MSG_IOV, iovec);
        msghdr.set(Native.C_SIZE_T, MSG_IOVLEN, 1L);
        msghdr.set(Native.C_POINTER, MSG_CONTROL,
                controlLength == 0 ? MemorySegment.NULL : scratch.asSlice(SCRATCH_CONTROL, controlLength));
        msghdr.set(Native.C_SIZE_T, MSG_CONTROLLEN, controlLength);
        msghdr.set(ValueLayout.JAVA_INT, MSG_FLAGS, 0);
        return msghdr;
    }

    private static Credentials readCredentials(MemorySegment segment, long offset) {
        return new Credentials(segment.get(ValueLayout.JAVA_INT, offset),
                segment.get(ValueLayout.JAVA_INT, offset + 4), segment.get(ValueLayout.JAVA_INT, offset + 8));
    }

    /** CMSG_SPACE: a header plus data, padded so the next header is size_t-aligned. */
    private static long cmsgSpace(long dataLength) {
        long align = Native.C_SIZE_T.byteSize();
        return CMSGHDR.byteSize() + ((dataLength + align - 1) & -align);
    }

    private static long offset(StructLayout layout, String field) {
        return layout.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }

    // ---------------------------------------------------------------------------------------
    // Names for messages

    static String familyName(int domain) {
        return switch (domain) {
            case AF_UNIX -> "AF_UNIX";
            case AF_INET -> "AF_INET";
            case AF_INET6 -> "AF_INET6";
            case AF_PACKET -> "AF_PACKET";
            case AF_XDP -> "AF_XDP";
            default -> String.valueOf(domain);
        };
    }

    static String typeName(int type) {
        int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
        StringBuilder name = new StringBuilder(switch (base) {
            case SOCK_STREAM -> "SOCK_STREAM";
            case SOCK_DGRAM -> "SOCK_DGRAM";
            case SOCK_RAW -> "SOCK_RAW";
            case SOCK_SEQPACKET -> "SOCK_SEQPACKET";
            default -> String.valueOf(base);
        });
        if ((type & SOCK_NONBLOCK) != 0) {
            name.append("|SOCK_NONBLOCK");
        }
        if ((type & SOCK_CLOEXEC) != 0) {
            name.append("|SOCK_CLOEXEC");
        }
        return name.toString();
    }

    static String optionName(int level, int option) {
        if (level == SOL_SOCKET) {
            String name = switch (option) {
                case SO_TYPE -> "SO_TYPE";
                case SO_ERROR -> "SO_ERROR";
                case SO_REUSEADDR -> "SO_REUSEADDR";
                case SO_SNDBUF -> "SO_SNDBUF";
                case SO_RCVBUF -> "SO_RCVBUF";
                case SO_KEEPALIVE -> "SO_KEEPALIVE";
                case SO_REUSEPORT -> "SO_REUSEPORT";
                case SO_PASSCRED -> "SO_PASSCRED";
                case SO_PEERCRED -> "SO_PEERCRED";
                case SO_ACCEPTCONN -> "SO_ACCEPTCONN";
                case SO_PROTOCOL -> "SO_PROTOCOL";
                case SO_DOMAIN -> "SO_DOMAIN";
                case SO_BUSY_POLL -> "SO_BUSY_POLL";
                default -> "option=" + option;
            };
            return "SOL_SOCKET, " + name;
        }
        if (level == IPPROTO_TCP && option == TCP_NODELAY) {
            return "IPPROTO_TCP, TCP_NODELAY";
        }
        return (level == SOL_XDP ? "SOL_XDP" : "level=" + level) + ", option=" + option;
    }
}
