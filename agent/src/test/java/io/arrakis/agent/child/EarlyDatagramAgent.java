package io.arrakis.agent.child;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.instrument.Instrumentation;
import java.net.DatagramSocket;
import java.net.InetAddress;

/** An agent listed before Arrakis that uses a DatagramSocket in its premain, so the class is loaded (and run) first. */
public final class EarlyDatagramAgent {
    public static void premain(String arguments, Instrumentation instrumentation) {
        try (DatagramSocket socket = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
