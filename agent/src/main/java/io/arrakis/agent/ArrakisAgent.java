package io.arrakis.agent;

import io.arrakis.provider.ArrakisSelectorProvider;
import io.arrakis.provider.net.DatagramSocketHook;
import io.arrakis.provider.net.JavaNetHooks;
import java.io.IOException;
import java.lang.instrument.Instrumentation;
import java.lang.instrument.UnmodifiableClassException;
import java.nio.channels.spi.SelectorProvider;
import java.util.Map;
import java.util.Set;

/**
 * The {@code -javaagent} that moves an unmodified application's networking onto Arrakis:
 * <ol>
 * <li>reads and checks its options ({@link AgentOptions}) and publishes them as
 *     {@code arrakis.*} system properties, before anything loads the provider;
 * <li>exports {@code sun.nio.ch} and opens {@code java.net} (both in {@code java.base}) to the
 *     provider's module, the class path's unnamed module: the provider falls back to the JDK's
 *     own channels through {@code sun.nio.ch}, and a {@code DatagramSocket} adaptor needs
 *     {@code java.net.DatagramSocket.NO_DELEGATE} ({@link DatagramSocketHook#noDelegate()}). The
 *     application, which shares that module, can then reach them too, as with
 *     {@code --add-exports}/{@code --add-opens ...=ALL-UNNAMED};
 * <li>names {@link ArrakisSelectorProvider} in {@code java.nio.channels.spi.SelectorProvider},
 *     unless the property names another provider or the JVM has already chosen one (then it
 *     says so and routes nothing);
 * <li>installs the {@code java.net} hooks: {@code Socket}/{@code ServerSocket} factories
 *     ({@link JavaNetHooks}) and the {@code DatagramSocket} rewrite
 *     ({@link DatagramSocketTransformer});
 * <li>with {@code storage.mount}, puts those directories on Arrakis storage ({@link StorageInstaller});
 * <li>prints a one-line banner on stderr saying what is routed ({@code banner=false} silences it).
 * </ol>
 * A mistake in the options stops it with one error line, and the application runs on without
 * it, on the kernel. Runs once per JVM, on the thread that loads it (before {@code main} for
 * {@code -javaagent} and {@code Launcher-Agent-Class}); later calls are ignored.
 */
public final class ArrakisAgent {
    static final String PROVIDER_PROPERTY = "java.nio.channels.spi.SelectorProvider";
    private static final String PROVIDER_HOLDER = "java.nio.channels.spi.SelectorProvider$Holder";
    private static final String DATAGRAM_SOCKET = "java.net.DatagramSocket";
    private static final String NOT_STARTED = "the agent is not started, and this JVM's networking stays on the kernel";

    private static boolean started; // guarded by ArrakisAgent.class
    private static volatile DatagramSocketTransformer datagramSockets;

    private ArrakisAgent() {}

    /** {@code -javaagent:arrakis-agent.jar[=options]}. */
    public static void premain(String arguments, Instrumentation instrumentation) {
        start(arguments, instrumentation);
    }

    /** {@code Launcher-Agent-Class} (the agent inside an executable jar), or attached to a running JVM. */
    public static void agentmain(String arguments, Instrumentation instrumentation) {
        start(arguments, instrumentation);
    }

    /** {@code java -jar arrakis-agent.jar}: how to use it. */
    public static void main(String[] arguments) {
        System.out.print(usage());
    }

    static String usage() {
        return """
                Arrakis agent: kernel-bypass networking for unmodified Java programs.

                usage: java -javaagent:arrakis-agent.jar[=name=value,...] [-Darrakis.name=value ...] -jar app.jar

                options (the first place that names one wins: the agent arguments, then -Darrakis.<name>,
                then the options file named by config=<path> or -Darrakis.config=<path>):
                """ + AgentOptions.usage() + """

                The JDK prints a notice when the agent's native code is first used; silence it with
                --enable-native-access=ALL-UNNAMED on the java command line.
                """;
    }

    /** Whether {@code java.net.DatagramSocket} runs the rewritten code (false before it is loaded, or when left alone). */
    public static boolean datagramSocketsHooked() {
        DatagramSocketTransformer transformer = datagramSockets;
        return transformer != null && transformer.rewritten();
    }

    private static synchronized void start(String arguments, Instrumentation instrumentation) {
        if (started) {
            AgentConsole.early("warning: the agent was asked to start twice in this JVM (two -javaagent options, or"
                    + " -javaagent and its Launcher-Agent-Class); the second time is ignored");
            return;
        }
        started = true;
        AgentOptions options;
        try {
            options = AgentOptions.resolve(arguments, System.getProperties());
        } catch (AgentOptions.BadOptionException e) {
            AgentConsole.early("error: " + e.getMessage() + "; " + NOT_STARTED);
            return;
        }
        AgentConsole console = AgentConsole.forOption(options.get("log"));
        options.publish(System.getProperties());
        if (console.logs(AgentConsole.Level.DEBUG)) {
            console.log(AgentConsole.Level.DEBUG, "options " + options);
        }

        // Storage first: it must name the file system provider before anything makes the default file system.
        String storage = StorageInstaller.install(options, instrumentation, console);
        if (storage != null && options.flag("banner")) {
            console.banner(storage);
        }

        Module provider = ArrakisSelectorProvider.class.getModule();
        try {
            instrumentation.redefineModule(Object.class.getModule(), Set.of(),
                    Map.of("sun.nio.ch", Set.of(provider)),
                    // sun.nio.ch open too: a selector with kernel keys sleeps on its inner JDK
                    // selector's epoll descriptor (a private field) and the stack's queue at once
                    Map.of("java.net", Set.of(provider), "sun.nio.ch", Set.of(provider)), Set.of(), Map.of());
        } catch (RuntimeException e) {
            console.error("cannot export and open sun.nio.ch and open java.net to " + provider + " (" + e + "); " + NOT_STARTED);
            return;
        }

        boolean providerChosen = false;
        Class<?> datagramSocket = null;
        for (Class<?> loaded : instrumentation.getAllLoadedClasses()) {
            switch (loaded.getName()) {
                case PROVIDER_HOLDER -> providerChosen = true;
                case DATAGRAM_SOCKET -> datagramSocket = loaded;
                default -> { }
            }
        }
        String notOurs = installProvider(providerChosen, console);
        if (notOurs != null) {
            console.warning(notOurs + "; nothing is routed through Arrakis");
            return;
        }
        try {
            JavaNetHooks.install();
        } catch (IOException e) {
            console.warning(e.getMessage());
        }
        hookDatagramSockets(instrumentation, datagramSocket, console);
        if (options.flag("banner")) {
            console.banner(banner(options));
        }
    }

    /**
     * Makes ours the JVM's provider where it still can. Returns null when the JVM's provider is
     * (or will be) ours, else why not.
     */
    private static String installProvider(boolean alreadyChosen, AgentConsole console) {
        if (alreadyChosen) {
            SelectorProvider chosen = SelectorProvider.provider(); // chosen already: asking changes nothing
            if (chosen instanceof ArrakisSelectorProvider) {
                console.warning("the JVM created its SelectorProvider (ours) before the agent started, so it was"
                        + " configured by -Darrakis.* properties only, without the agent arguments or options file");
                return null;
            }
            return "the JVM chose its SelectorProvider (" + chosen.getClass().getName() + ") before the agent"
                    + " started: something called SelectorProvider.provider() first (another -javaagent, or an"
                    + " option that opened a channel); put -javaagent:arrakis-agent.jar first on the command line";
        }
        String named = System.getProperty(PROVIDER_PROPERTY);
        if (named == null) {
            System.setProperty(PROVIDER_PROPERTY, ArrakisSelectorProvider.class.getName());
            return null;
        }
        try {
            Class<?> type = Class.forName(named, false, ClassLoader.getSystemClassLoader());
            if (ArrakisSelectorProvider.class.isAssignableFrom(type)) {
                return null;
            }
        } catch (ClassNotFoundException | LinkageError e) {
            return "-D" + PROVIDER_PROPERTY + "=" + named + " names a class that cannot be loaded (" + e + ")";
        }
        return "-D" + PROVIDER_PROPERTY + "=" + named + " names another provider, which Arrakis leaves in place";
    }

    private static void hookDatagramSockets(Instrumentation instrumentation, Class<?> loaded, AgentConsole console) {
        if (!instrumentation.isRetransformClassesSupported()) {
            console.warning("this JVM cannot retransform classes, so DatagramSocket and MulticastSocket stay on the"
                    + " JDK's own channels");
            return;
        }
        DatagramSocketTransformer transformer = new DatagramSocketTransformer(console);
        datagramSockets = transformer;
        instrumentation.addTransformer(transformer, true);
        if (loaded != null) { // else it is rewritten when it loads
            try {
                instrumentation.retransformClasses(loaded);
            } catch (UnmodifiableClassException | RuntimeException | LinkageError e) {
                console.warning("cannot retransform java.net.DatagramSocket (" + e + "), so DatagramSocket and"
                        + " MulticastSocket stay on the JDK's own channels");
            }
        }
    }

    /** {@code routing 198.18.0.0/15 and 127.0.0.1 listeners through the shm switch (...); everything else via the kernel}. */
    static String banner(AgentOptions options) {
        StringBuilder line = new StringBuilder("routing ");
        String routes = String.join(", ", options.routes());
        boolean loopback = options.flag("loopback");
        if (routes.isEmpty()) {
            line.append(loopback ? "127.0.0.1 listeners" : "nothing");
        } else {
            line.append(routes).append(loopback ? " and 127.0.0.1 listeners" : "");
        }
        String backend = options.get("backend");
        line.append(" through ").append(switch (backend) {
            case "shm" -> "the shm switch (" + controlPlane(options) + ")";
            case "tap" -> "a TAP device";
            case "loopback" -> "the in-process loopback device";
            default -> "the " + backend + " backend";
        });
        String capture = options.get("capture");
        if (capture != null) {
            line.append(", captured to ").append(capture);
        }
        return line.append("; everything else via the kernel").toString();
    }

    private static String controlPlane(AgentOptions options) {
        String socket = options.get("shm.socket");
        boolean embedded = !"false".equalsIgnoreCase(options.get("shm.embedded"));
        if (socket == null) {
            return embedded ? "embedded control plane unless one is running" : "control plane at the default socket";
        }
        return "control plane at " + socket + (embedded ? ", embedded unless one is running" : "");
    }
}
