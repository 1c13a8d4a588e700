package io.arrakis.provider.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

/** The harness itself: normalisation, comparison and pinned lines fail when they should. */
class HarnessTest {

    @Test
    void traceNormalisesAddressesPortsAndExceptionMessages() throws Exception {
        Trace t = new Trace(new JdkNetwork("jdk"));
        t.note("server", new InetSocketAddress(InetAddress.getLoopbackAddress(), 4321));
        t.note("wildcard4", new InetSocketAddress(InetAddress.getByName("0.0.0.0"), 0));
        t.note("wildcard6", new InetSocketAddress(InetAddress.getByName("::"), 9));
        t.note("other", InetAddress.getByName("203.0.113.5"));
        t.call("fails", () -> {
            throw new SocketException("cannot reach 127.0.0.1:4321");
        });
        t.run("succeeds", () -> { });
        assertEquals(List.of("server = server:port", "wildcard4 = wildcard4:0", "wildcard6 = wildcard6:port", "other = 203.0.113.5",
                "fails -> threw SocketException: cannot reach server:port", "succeeds -> ok"), t.lines());
    }

    @Test
    void traceRefusesValuesItCannotNormalise() {
        Trace t = new Trace(new JdkNetwork("jdk"));
        assertThrows(IllegalArgumentException.class, () -> t.note("thread", Thread.currentThread()));
    }

    @Test
    void aSubjectWhoseTraceDiffersFailsWithBothTracesSideBySide() throws Exception {
        Case c = new Case("Harness", "recordsTheNetworksName", (net, t) -> t.note("name", net.name()), List.of());
        CaseRunner.Run oracle = CaseRunner.run(c, new JdkNetwork("jdk"));
        CaseRunner.Run subject = CaseRunner.run(c, new JdkNetwork("other"));
        AssertionFailedError failure = assertThrows(AssertionFailedError.class,
                () -> ConformanceTest.assertSameTrace(c, "jdk", oracle, "other", subject));
        assertTrue(failure.getMessage().contains(" ! name = jdk | name = other"), failure.getMessage());
        ConformanceTest.assertSameTrace(c, "jdk", oracle, "jdk", CaseRunner.run(c, new JdkNetwork("jdk")));
    }

    @Test
    void aCaseThatThrowsFailsEvenWhenBothSidesThrowAlike() throws Exception {
        Case c = new Case("Harness", "throws", (net, t) -> {
            throw new IllegalStateException("broken case");
        }, List.of());
        CaseRunner.Run one = CaseRunner.run(c, new JdkNetwork("jdk"));
        CaseRunner.Run two = CaseRunner.run(c, new JdkNetwork("jdk"));
        assertEquals(one.lines(), two.lines());
        assertThrows(AssertionFailedError.class, () -> ConformanceTest.assertSameTrace(c, "jdk", one, "jdk", two));
        assertThrows(AssertionFailedError.class, () -> ConformanceTest.assertPinned(c, one));
    }

    @Test
    void pinnedLinesMustAppearInOrder() throws Exception {
        Case inOrder = new Case("Harness", "inOrder", (net, t) -> {
            t.note("a", 1);
            t.note("b", 2);
        }, List.of("a = 1", "b = 2"));
        Case reversed = new Case("Harness", "reversed", inOrder.body(), List.of("b = 2", "a = 1"));
        CaseRunner.Run run = CaseRunner.run(inOrder, new JdkNetwork("jdk"));
        ConformanceTest.assertPinned(inOrder, run);
        assertThrows(AssertionFailedError.class, () -> ConformanceTest.assertPinned(reversed, run));
    }
}
