package io.arrakis.agent.child;

import java.lang.instrument.Instrumentation;
import java.nio.file.Path;

/** An agent listed before Arrakis that makes a Path in its premain, so the JVM makes its default file system first. */
public final class EarlyFileSystemAgent {
    private EarlyFileSystemAgent() {}

    public static void premain(String arguments, Instrumentation instrumentation) {
        Path.of(".").toAbsolutePath();
    }
}
