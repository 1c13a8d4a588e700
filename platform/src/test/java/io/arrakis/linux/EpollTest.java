package io.arrakis.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

class EpollTest {
    @Test
    void anEventfdBecomesReadableInEpollAfterSignal() throws Exception {
        int epfd = Epoll.create(Epoll.EPOLL_CLOEXEC);
        int efd = EventFd.create(0, EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC);
        try (Arena arena = Arena.ofConfined()) {
            Epoll.Events events = Epoll.Events.allocate(arena, 4);
            Epoll.add(epfd, efd, Epoll.EPOLLIN, 0xFEED_0000_0000_0077L);
            assertEquals(0, Epoll.wait(epfd, events, 0));

            EventFd.signal(efd, 3);
            assertEquals(1, Epoll.wait(epfd, events, 1000));
            assertEquals(Epoll.EPOLLIN, events.events(0));
            assertEquals(0xFEED_0000_0000_0077L, events.data(0));

            assertEquals(3, EventFd.drain(efd));
            assertEquals(0, Epoll.wait(epfd, events, 0), "level-triggered: drained means not ready");
        } finally {
            SocketsTest.closeAll(efd, epfd);
        }
    }

    @Test
    void modifyChangesTheInterestAndDeleteEndsIt() throws Exception {
        int epfd = Epoll.create(Epoll.EPOLL_CLOEXEC);
        int[] pair = Sockets.socketpair(Sockets.AF_UNIX, Sockets.SOCK_STREAM | Sockets.SOCK_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            Epoll.Events events = Epoll.Events.allocate(arena, 2);
            Epoll.add(epfd, pair[0], Epoll.EPOLLIN, 1);
            assertEquals(0, Epoll.wait(epfd, events, 0));
            Epoll.modify(epfd, pair[0], Epoll.EPOLLOUT, 2);
            assertEquals(1, Epoll.wait(epfd, events, 0));
            assertEquals(Epoll.EPOLLOUT, events.events(0));
            assertEquals(2, events.data(0));

            Sockets.send(pair[1], arena.allocate(1), 0);
            Epoll.modify(epfd, pair[0], Epoll.EPOLLIN | Epoll.EPOLLET, 3);
            assertEquals(1, Epoll.wait(epfd, events, 0));
            assertEquals(3, events.data(0));
            assertEquals(0, Epoll.wait(epfd, events, 0), "edge-triggered: reported once");

            Epoll.delete(epfd, pair[0]);
            LinuxException e = assertThrows(LinuxException.class, () -> Epoll.delete(epfd, pair[0]));
            assertEquals("epoll_ctl(epfd=" + epfd + ", op=EPOLL_CTL_DEL, fd=" + pair[0] + "): ENOENT (No such file "
                    + "or directory)", e.getMessage());
        } finally {
            SocketsTest.closeAll(pair[0], pair[1], epfd);
        }
    }

    @Test
    void addingADescriptorTwiceFailsWithEexistNamingTheCall() throws Exception {
        int epfd = Epoll.create(Epoll.EPOLL_CLOEXEC);
        int efd = EventFd.create(0, EventFd.EFD_CLOEXEC);
        try {
            Epoll.add(epfd, efd, Epoll.EPOLLIN, 0);
            LinuxException e = assertThrows(LinuxException.class,
                    () -> Epoll.add(epfd, efd, Epoll.EPOLLIN | Epoll.EPOLLET, 0));
            assertEquals(Errno.EEXIST, e.errno());
            assertEquals("epoll_ctl(epfd=" + epfd + ", op=EPOLL_CTL_ADD, fd=" + efd + ", events=EPOLLIN|EPOLLET): "
                    + "EEXIST (File exists)", e.getMessage());
        } finally {
            SocketsTest.closeAll(efd, epfd);
        }
    }

    @Test
    void waitingOnSomethingThatIsNotAnEpollFailsWithEinval() throws Exception {
        int efd = EventFd.create(0, EventFd.EFD_CLOEXEC);
        try (Arena arena = Arena.ofConfined()) {
            Epoll.Events events = Epoll.Events.allocate(arena, 1);
            LinuxException e = assertThrows(LinuxException.class, () -> Epoll.wait(efd, events, 0));
            assertEquals(Errno.EINVAL, e.errno());
            assertTrue(e.getMessage().startsWith("epoll_wait(epfd=" + efd + ", maxevents=1, timeout=0)"),
                    e.getMessage());
        } finally {
            SocketsTest.closeAll(efd);
        }
    }

    @Test
    void theEventLayoutIsPackedOnX8664AndNaturallyAlignedElsewhere() {
        String arch = System.getProperty("os.arch");
        boolean x86 = arch.equals("amd64") || arch.equals("x86_64");
        assertEquals(x86 ? 12 : 16, Epoll.EPOLL_EVENT.byteSize());
    }
}
