package io.arrakis.provider;

import java.lang.reflect.InvocationTargetException;
import java.nio.channels.spi.SelectorProvider;

/**
 * The JDK's own {@link SelectorProvider}, for everything we do not route to the user-level stack.
 *
 * <p>Once our provider is the JVM's provider, {@link SelectorProvider#provider()} returns us, and
 * the JDK offers no public way to its built-in one ({@code sun.nio.ch.DefaultSelectorProvider}).
 * The agent exports {@code sun.nio.ch} to us with {@code Instrumentation.redefineModule} (no
 * warning, no command-line flag); without the agent the JVM needs
 * {@code --add-exports java.base/sun.nio.ch=ALL-UNNAMED}. Thread-safe: initialised once, lazily.
 */
final class JdkProvider {
    static final String PACKAGE = "sun.nio.ch";
    static final String ADD_EXPORTS = "--add-exports java.base/sun.nio.ch=ALL-UNNAMED";

    private JdkProvider() {}

    private static final class Holder {
        static final SelectorProvider INSTANCE = load();
    }

    /** The JDK's built-in provider; throws {@link IllegalStateException} naming the fix when it is out of reach. */
    static SelectorProvider get() {
        return Holder.INSTANCE;
    }

    /** Whether the JDK's provider is reachable from here (the agent exported its package, or the command line did). */
    static boolean reachable() {
        return Object.class.getModule().isExported(PACKAGE, JdkProvider.class.getModule());
    }

    private static SelectorProvider load() {
        if (!reachable()) {
            throw new IllegalStateException("Arrakis: the JDK's own SelectorProvider (package " + PACKAGE
                    + ") is not exported to " + JdkProvider.class.getModule()
                    + ", so connections not routed to the user-level stack cannot fall back to the kernel;"
                    + " start the JVM with -javaagent:<arrakis agent jar>, or add " + ADD_EXPORTS);
        }
        try {
            Class<?> type = Class.forName(PACKAGE + ".DefaultSelectorProvider");
            return (SelectorProvider) type.getMethod("get").invoke(null);
        } catch (InvocationTargetException e) {
            throw new IllegalStateException("Arrakis: the JDK's DefaultSelectorProvider.get() failed", e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("Arrakis: this JDK has no " + PACKAGE
                    + ".DefaultSelectorProvider.get() (Arrakis needs JDK 25 or newer)", e);
        }
    }
}
