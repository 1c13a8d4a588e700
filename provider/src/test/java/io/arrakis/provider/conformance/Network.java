package io.arrakis.provider.conformance;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.MulticastSocket;
import java.net.NetworkInterface;
import java.net.SocketAddress;
import java.net.SocketException;
import java.nio.channels.spi.SelectorProvider;
import java.util.Arrays;

/**
 * A system under test for the conformance suite: a {@link SelectorProvider} and the addresses its
 * channels use. Cases open every channel through {@link #provider()} (never {@code SocketChannel.open()},
 * which would take the test JVM's default provider) and every socket through {@code channel.socket()}.
 * Implementations are shared by the cases run on them, one case at a time, from any thread.
 */
public interface Network extends AutoCloseable {

    /** Short name shown in test names, e.g. {@code jdk} or {@code arrakis}. */
    String name();

    /** The provider whose channels and selectors are tested. */
    SelectorProvider provider();

    /** The address servers bind to and clients connect to (127.0.0.1 for the JDK; a VNIC's address for ours). */
    InetAddress serverAddress();

    /** An address and port on {@link #serverAddress()} where nothing listens, for "connection refused". */
    InetSocketAddress unusedPort() throws IOException;

    /**
     * A {@code java.net.DatagramSocket} as {@code new DatagramSocket(local)} makes one on this
     * network ({@code local} null: unbound): the JDK's constructor for the JDK; for a provider
     * that {@code DatagramSocket} reaches through the agent's rewrite of {@code createDelegate},
     * the same construction over that provider's channel.
     */
    default DatagramSocket datagramSocket(SocketAddress local) throws IOException {
        return new DatagramSocket(local);
    }

    /** A {@code java.net.MulticastSocket} as {@code new MulticastSocket(local)} makes one on this network. */
    default MulticastSocket multicastSocket(SocketAddress local) throws IOException {
        return new MulticastSocket(local);
    }

    /** The interface multicast cases join groups on and send through (IP_MULTICAST_IF). */
    default NetworkInterface multicastInterface() throws SocketException {
        return NetworkInterface.getByInetAddress(serverAddress());
    }

    /**
     * Whether {@code thread} is blocked inside one of this provider's operations, so that a case can
     * close or interrupt it knowing the operation is under way (and not about to start). The default
     * accepts a thread parked or waiting (virtual threads, locks, condition queues) or running a
     * native method, with a frame of the provider's package on its stack and no class loading under
     * way. A provider that blocks in a Panama downcall (state RUNNABLE, no native frame visible)
     * overrides this to recognise its own blocking frame.
     */
    default boolean isBlockedIn(Thread thread) {
        Thread.State state = thread.getState();
        StackTraceElement[] stack = thread.getStackTrace();
        if (stack.length == 0) {
            return false;
        }
        boolean waiting = state == Thread.State.WAITING || state == Thread.State.TIMED_WAITING
                || state == Thread.State.BLOCKED || (state == Thread.State.RUNNABLE && stack[0].isNativeMethod());
        String providerPackage = provider().getClass().getPackageName() + ".";
        boolean inProvider = Arrays.stream(stack).anyMatch(frame -> frame.getClassName().startsWith(providerPackage));
        boolean loadingClasses = Arrays.stream(stack).anyMatch(frame -> frame.getClassName().startsWith("java.lang.ClassLoader")
                || frame.getClassName().startsWith("jdk.internal.loader."));
        return waiting && inProvider && !loadingClasses;
    }

    /**
     * Cases on which this subject is known to differ from the oracle, each with the line its own
     * trace holds instead and why (documented limitations, not oversights). Such a case still
     * runs: it passes only if the traces differ and the subject's trace holds that line, so a
     * fixed deviation, or a different one, fails until this list is corrected.
     */
    default java.util.Map<String, Deviation> knownDeviations() {
        return java.util.Map.of();
    }

    /** What a subject's trace holds instead of the oracle's, and why. */
    record Deviation(String line, String why) {}

    @Override
    void close();
}
