package io.arrakis.linux;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

class IoctlTest {
    @Test
    void requestNumbersAreBuiltAsAsmGenericIoctlHBuildsThem() {
        assertEquals(0x400454caL, Ioctl.TUNSETIFF);
        assertEquals(0x800454d2L, Ioctl.TUNGETIFF);
        assertEquals(0x400454cbL, Ioctl.iow('T', 203, 4));
        assertEquals(40, Ioctl.IFREQ.byteSize());
    }

    @Test
    void loopbackHasAnIndexTheLoopbackFlagAnAllZeroAddressAnd64KMtu() throws Exception {
        assertTrue(Ioctl.interfaceIndex("lo") > 0);
        assertEquals(65536, Ioctl.interfaceMtu("lo"));
        int flags = Ioctl.interfaceFlags("lo");
        assertTrue((flags & Ioctl.IFF_LOOPBACK) != 0, Integer.toHexString(flags));
        assertTrue((flags & Ioctl.IFF_UP) != 0, Integer.toHexString(flags));
        assertArrayEquals(new byte[6], Ioctl.interfaceHardwareAddress("lo"));
    }

    @Test
    void anUnknownInterfaceFailsWithEnodevNamingTheRequestAndTheInterface() {
        LinuxException e = assertThrows(LinuxException.class, () -> Ioctl.interfaceIndex("arrakis-nope0"));
        assertEquals(Errno.ENODEV, e.errno());
        assertTrue(e.getMessage().contains("request=SIOCGIFINDEX, interface=\"arrakis-nope0\")"), e.getMessage());
        assertTrue(e.getMessage().endsWith("ENODEV (No such device)"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Ioctl.interfaceMtu("a-name-of-16-chr"));
    }

    @Test
    void fionreadCountsTheBytesQueuedOnASocket() throws Exception {
        int[] pair = Sockets.socketpair(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(0, Ioctl.bytesAvailable(pair[1]));
            Sockets.send(pair[0], arena.allocate(5), 0);
            assertEquals(5, Ioctl.bytesAvailable(pair[1]));
        } finally {
            SocketsTest.closeAll(pair[0], pair[1]);
        }
    }

    @Test
    void anIoctlTheDescriptorDoesNotKnowFailsNamingTheRequestAndArgument() throws Exception {
        int[] pipe = Unistd.pipe2(Unistd.O_CLOEXEC);
        try {
            LinuxException e = assertThrows(LinuxException.class,
                    () -> Ioctl.ioctl(pipe[0], Ioctl.iow('T', 203, 4), 1L));
            assertEquals("ioctl(fd=" + pipe[0] + ", request=0x400454cb, argument=1): ENOTTY (Inappropriate ioctl for "
                    + "device)", e.getMessage());
        } finally {
            SocketsTest.closeAll(pipe[0], pipe[1]);
        }
    }

    @Test
    void aTapInterfaceExistsWhileItsDescriptorIsOpen() throws Exception {
        // Open it even if missing: a machine of the project's kind has it, and a missing one must
        // fail loudly (ENOENT names the path) rather than skip.
        int tun = Unistd.open("/dev/net/tun", Unistd.O_RDWR | Unistd.O_CLOEXEC, 0);
        String name;
        try {
            name = Ioctl.tunSetInterface(tun, "arktest%d", Ioctl.IFF_TAP | Ioctl.IFF_NO_PI);
            assertTrue(name.startsWith("arktest"), name);
            assertTrue(Ioctl.interfaceIndex(name) > 0);
            assertEquals(6, Ioctl.interfaceHardwareAddress(name).length);
            assertNotEquals(0, Ioctl.interfaceMtu(name));
            // Not persistent (by-value argument), and flags can be changed without bringing it up.
            assertEquals(0, Ioctl.ioctl(tun, Ioctl.iow('T', 203, 4), 0L));
            int flags = Ioctl.interfaceFlags(name);
            assertEquals(0, flags & Ioctl.IFF_UP);
            Ioctl.setInterfaceFlags(name, flags | Ioctl.IFF_NOARP);
            assertEquals(Ioctl.IFF_NOARP, Ioctl.interfaceFlags(name) & Ioctl.IFF_NOARP);
        } finally {
            Unistd.close(tun);
        }
        LinuxException gone = assertThrows(LinuxException.class, () -> Ioctl.interfaceIndex(name));
        assertEquals(Errno.ENODEV, gone.errno());
    }
}
