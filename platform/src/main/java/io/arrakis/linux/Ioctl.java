package io.arrakis.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;

/**
 * {@code ioctl(2)} and the network-interface and TUN requests we use: {@code sys/ioctl.h},
 * {@code linux/sockios.h}, {@code linux/if.h}, {@code linux/if_tun.h}.
 *
 * <p>Thread-safe: each call is independent; {@link #bytesAvailable} uses per-thread scratch
 * memory and allocates nothing, the interface helpers use a confined arena per call.
 */
public final class Ioctl {
    // asm-generic/ioctl.h: how a request number is built (x86_64 and aarch64 share this encoding).
    private static final int IOC_NRBITS = 8;
    private static final int IOC_TYPEBITS = 8;
    private static final int IOC_SIZEBITS = 14;
    private static final int IOC_NRSHIFT = 0;
    private static final int IOC_TYPESHIFT = IOC_NRSHIFT + IOC_NRBITS;
    private static final int IOC_SIZESHIFT = IOC_TYPESHIFT + IOC_TYPEBITS;
    private static final int IOC_DIRSHIFT = IOC_SIZESHIFT + IOC_SIZEBITS;
    private static final long IOC_NONE = 0;
    private static final long IOC_WRITE = 1;
    private static final long IOC_READ = 2;

    /** {@code _IO(type, nr)}: a request without an argument. */
    public static long io(char type, int nr) {
        return ioc(IOC_NONE, type, nr, 0);
    }

    /** {@code _IOW(type, nr, size)}: the kernel reads {@code size} bytes from the argument. */
    public static long iow(char type, int nr, int size) {
        return ioc(IOC_WRITE, type, nr, size);
    }

    /** {@code _IOR(type, nr, size)}: the kernel writes {@code size} bytes to the argument. */
    public static long ior(char type, int nr, int size) {
        return ioc(IOC_READ, type, nr, size);
    }

    /** {@code _IOWR(type, nr, size)}. */
    public static long iowr(char type, int nr, int size) {
        return ioc(IOC_READ | IOC_WRITE, type, nr, size);
    }

    private static long ioc(long direction, char type, int nr, int size) {
        if (nr < 0 || nr >= 1 << IOC_NRBITS || type >= 1 << IOC_TYPEBITS || size < 0 || size >= 1 << IOC_SIZEBITS) {
            throw new IllegalArgumentException("ioctl number out of range: type=" + (int) type + " nr=" + nr
                    + " size=" + size);
        }
        return direction << IOC_DIRSHIFT | (long) type << IOC_TYPESHIFT | (long) nr << IOC_NRSHIFT
                | (long) size << IOC_SIZESHIFT;
    }

    // asm-generic/ioctls.h
    public static final long FIONREAD = 0x541B;
    public static final long FIONBIO = 0x5421;
    // linux/sockios.h
    public static final long SIOCGIFFLAGS = 0x8913;
    public static final long SIOCSIFFLAGS = 0x8914;
    public static final long SIOCGIFMTU = 0x8921;
    public static final long SIOCSIFMTU = 0x8922;
    public static final long SIOCGIFHWADDR = 0x8927;
    public static final long SIOCGIFINDEX = 0x8933;
    public static final long SIOCETHTOOL = 0x8946;
    // linux/ethtool.h: commands of struct ethtool_value {u32 cmd; u32 data;}
    public static final int ETHTOOL_GTXCSUM = 0x16;
    public static final int ETHTOOL_STXCSUM = 0x17;
    // linux/if_tun.h
    public static final long TUNSETIFF = iow('T', 202, 4);
    public static final long TUNGETIFF = ior('T', 210, 4);
    public static final int IFF_TUN = 0x0001;
    public static final int IFF_TAP = 0x0002;
    public static final int IFF_NO_PI = 0x1000;

    // linux/if.h: interface flags (ifr_flags is a short: these are the ones that fit in it)
    public static final int IFF_UP = 0x1;
    public static final int IFF_BROADCAST = 0x2;
    public static final int IFF_LOOPBACK = 0x8;
    public static final int IFF_RUNNING = 0x40;
    public static final int IFF_NOARP = 0x80;
    public static final int IFF_PROMISC = 0x100;
    public static final int IFF_MULTICAST = 0x1000;

    /** linux/if.h IFNAMSIZ: names are at most 15 bytes plus the NUL. */
    public static final int IFNAMSIZ = 16;

    /**
     * linux/if.h struct ifreq: the name, then a 24-byte union whose member depends on the
     * request (ifr_ifindex, ifr_mtu, ifr_flags, ifr_hwaddr...), all starting at {@link #IFR_UNION}.
     */
    public static final StructLayout IFREQ = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(IFNAMSIZ, ValueLayout.JAVA_BYTE).withName("ifr_name"),
            MemoryLayout.sequenceLayout(24, ValueLayout.JAVA_BYTE).withName("ifr_ifru")).withByteAlignment(8);
    public static final long IFR_UNION = IFNAMSIZ;

    private static final MethodHandle IOCTL_POINTER = Native.function("ioctl",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_LONG, Native.C_POINTER),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle IOCTL_LONG = Native.function("ioctl",
            FunctionDescriptor.of(Native.C_INT, Native.C_INT, Native.C_LONG, Native.C_LONG),
            Linker.Option.firstVariadicArg(2));

    private static final ThreadLocal<MemorySegment> INT_RESULT =
            ThreadLocal.withInitial(() -> Arena.global().allocate(ValueLayout.JAVA_INT));

    private Ioctl() {}

    /** {@code ioctl(fd, request, argument)} with a pointer argument; returns the (non-negative) result. */
    public static int ioctl(int fd, long request, MemorySegment argument) throws LinuxException {
        int result = callPointer(fd, request, argument);
        if (result < 0) {
            throw new LinuxException("ioctl(fd=" + fd + ", request=" + requestName(request) + ")", Native.errno());
        }
        return result;
    }

    /** {@code ioctl(fd, request, argument)} with an integer argument passed by value. */
    public static int ioctl(int fd, long request, long argument) throws LinuxException {
        int result;
        try {
            result = (int) IOCTL_LONG.invokeExact(Native.errnoState(), fd, request, argument);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
        if (result < 0) {
            throw new LinuxException("ioctl(fd=" + fd + ", request=" + requestName(request) + ", argument="
                    + argument + ")", Native.errno());
        }
        return result;
    }

    private static int callPointer(int fd, long request, MemorySegment argument) {
        try {
            return (int) IOCTL_POINTER.invokeExact(Native.errnoState(), fd, request, argument);
        } catch (Throwable t) {
            throw Native.unreachable(t);
        }
    }

    /** FIONREAD: bytes queued for reading on a socket, pipe or tty. */
    public static int bytesAvailable(int fd) throws LinuxException {
        MemorySegment count = INT_RESULT.get();
        ioctl(fd, FIONREAD, count);
        return count.get(ValueLayout.JAVA_INT, 0);
    }

    /** The kernel's index of interface {@code name} (SIOCGIFINDEX), as AF_PACKET, AF_XDP and bpf links want it. */
    public static int interfaceIndex(String name) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ifreq = interfaceRequest(arena, name);
            interfaceIoctl(SIOCGIFINDEX, ifreq, name);
            return ifreq.get(ValueLayout.JAVA_INT, IFR_UNION);
        }
    }

    /** The MTU of interface {@code name} (SIOCGIFMTU). */
    public static int interfaceMtu(String name) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ifreq = interfaceRequest(arena, name);
            interfaceIoctl(SIOCGIFMTU, ifreq, name);
            return ifreq.get(ValueLayout.JAVA_INT, IFR_UNION);
        }
    }

    /** The interface flags ({@link #IFF_UP}, ...) of {@code name} (SIOCGIFFLAGS), as an unsigned short. */
    public static int interfaceFlags(String name) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ifreq = interfaceRequest(arena, name);
            interfaceIoctl(SIOCGIFFLAGS, ifreq, name);
            return Short.toUnsignedInt(ifreq.get(ValueLayout.JAVA_SHORT, IFR_UNION));
        }
    }

    /** Sets the interface flags of {@code name} (SIOCSIFFLAGS; needs CAP_NET_ADMIN). */
    public static void setInterfaceFlags(String name, int flags) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ifreq = interfaceRequest(arena, name);
            ifreq.set(ValueLayout.JAVA_SHORT, IFR_UNION, (short) flags);
            interfaceIoctl(SIOCSIFFLAGS, ifreq, name);
        }
    }

    /**
     * The hardware address of {@code name} (SIOCGIFHWADDR): 6 bytes for Ethernet; all zero for
     * loopback.
     */
    public static byte[] interfaceHardwareAddress(String name) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ifreq = interfaceRequest(arena, name);
            interfaceIoctl(SIOCGIFHWADDR, ifreq, name);
            // ifr_hwaddr is a struct sockaddr: sa_family (ARPHRD_*), then the address in sa_data.
            return ifreq.asSlice(IFR_UNION + 2, 6).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /**
     * Turns transmit checksum offload of {@code name} on or off (SIOCETHTOOL ETHTOOL_STXCSUM, as
     * {@code ethtool -K name tx off} does). Off matters on a veth whose peer hands frames to XDP
     * or AF_XDP: with offload on, their checksums are only partial sums, left for hardware that a
     * veth does not have.
     */
    public static void setTransmitChecksumOffload(String name, boolean on) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = arena.allocate(8, 8);
            value.set(ValueLayout.JAVA_INT, 0, ETHTOOL_STXCSUM);
            value.set(ValueLayout.JAVA_INT, 4, on ? 1 : 0);
            MemorySegment ifreq = interfaceRequest(arena, name);
            ifreq.set(ValueLayout.JAVA_LONG, IFR_UNION, value.address());
            interfaceIoctl(SIOCETHTOOL, ifreq, name);
        }
    }

    /**
     * Attaches {@code tunFd} (an open {@code /dev/net/tun}) to a TUN or TAP interface
     * (TUNSETIFF); {@code name} may be a template such as {@code "tap%d"} or empty. Returns the
     * name the kernel chose. The interface lives as long as the descriptor unless made persistent.
     */
    public static String tunSetInterface(int tunFd, String name, int flags) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ifreq = interfaceRequest(arena, name);
            ifreq.set(ValueLayout.JAVA_SHORT, IFR_UNION, (short) flags);
            if (callPointer(tunFd, TUNSETIFF, ifreq) < 0) {
                throw new LinuxException("ioctl(fd=" + tunFd + ", request=TUNSETIFF, interface=\"" + name
                        + "\", flags=0x" + Integer.toHexString(flags) + ")", Native.errno());
            }
            return ifreq.getString(0);
        }
    }

    /** A zeroed struct ifreq with {@code name} in ifr_name. */
    public static MemorySegment interfaceRequest(Arena arena, String name) {
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        if (bytes.length >= IFNAMSIZ || name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("interface name \"" + name + "\" must be at most " + (IFNAMSIZ - 1)
                    + " bytes without NUL (IFNAMSIZ)");
        }
        MemorySegment ifreq = arena.allocate(IFREQ);
        MemorySegment.copy(bytes, 0, ifreq, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return ifreq;
    }

    /**
     * Interface requests go through any socket; an AF_INET datagram one is the cheapest to
     * make and needs no privilege.
     */
    private static void interfaceIoctl(long request, MemorySegment ifreq, String name) throws LinuxException {
        int socket = Sockets.socket(Sockets.AF_INET, Sockets.SOCK_DGRAM | Sockets.SOCK_CLOEXEC, 0);
        try {
            if (callPointer(socket, request, ifreq) < 0) {
                throw new LinuxException("ioctl(fd=" + socket + ", request=" + requestName(request) + ", interface=\""
                        + name + "\")", Native.errno());
            }
        } finally {
            Unistd.close(socket);
        }
    }

    static String requestName(long request) {
        if ((request >> IOC_TYPESHIFT & 0xff) == ';') {
            return VfioIoctl.requestName(request);
        } else if (request == FIONREAD) {
            return "FIONREAD";
        } else if (request == FIONBIO) {
            return "FIONBIO";
        } else if (request == SIOCGIFFLAGS) {
            return "SIOCGIFFLAGS";
        } else if (request == SIOCSIFFLAGS) {
            return "SIOCSIFFLAGS";
        } else if (request == SIOCGIFMTU) {
            return "SIOCGIFMTU";
        } else if (request == SIOCSIFMTU) {
            return "SIOCSIFMTU";
        } else if (request == SIOCGIFHWADDR) {
            return "SIOCGIFHWADDR";
        } else if (request == SIOCGIFINDEX) {
            return "SIOCGIFINDEX";
        } else if (request == SIOCETHTOOL) {
            return "SIOCETHTOOL";
        } else if (request == TUNSETIFF) {
            return "TUNSETIFF";
        } else if (request == TUNGETIFF) {
            return "TUNGETIFF";
        }
        return "0x" + Long.toHexString(request);
    }
}
