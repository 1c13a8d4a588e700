package io.arrakis.agent.child;

import java.lang.instrument.Instrumentation;
import java.nio.channels.spi.SelectorProvider;

/** An agent listed before Arrakis that opens NIO in its premain, so the JVM chooses its provider first. */
public final class EarlyProviderAgent {
    public static void premain(String arguments, Instrumentation instrumentation) {
        SelectorProvider.provider();
    }
}
