package io.arrakis.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.agent.child.DatagramSpiMain;
import io.arrakis.agent.child.EarlyDatagramAgent;
import io.arrakis.agent.child.EarlyProviderAgent;
import io.arrakis.agent.child.NetworkingMain;
import io.arrakis.agent.child.PropertiesMain;
import io.arrakis.agent.child.RecordingProvider;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent jar in JVMs of their own, running applications that know nothing of it: what it
 * prints, what it installs, and that everything still works (through the kernel fallback until
 * the provider routes).
 */
@Tag("agent-jar")
class AgentInstallTest {
    private static final String OURS = "io.arrakis.provider.ArrakisSelectorProvider";

    @TempDir
    Path directory;

    private ChildJvm child() {
        return new ChildJvm(directory);
    }

    /** The banner of an agent with default options, whose control plane socket is the test's. */
    private String banner() {
        return "arrakis: routing 198.18.0.0/15 and 127.0.0.1 listeners through the shm switch (control plane at "
                + directory.resolve("control.sock") + ", embedded unless one is running); everything else via the kernel";
    }

    private static void assertSucceeded(ChildJvm.Result result) {
        assertEquals(0, result.exitCode(), result::describe);
    }

    /** Lines of the JDK's native-access notice ("WARNING: A restricted method ... --enable-native-access ..."). */
    private static boolean nativeAccessNotice(String line) {
        return line.contains("restricted method") || line.contains("--enable-native-access")
                || line.contains("Restricted methods will be blocked")
                || (line.startsWith("WARNING: java.lang.foreign.") && line.contains(" has been called by "));
    }

    @Test
    void anUnmodifiedApplicationRunsWithTheAgentAndOnlyTheBannerOnStderr() throws Exception {
        ChildJvm.Result result = child().agent(null).run(NetworkingMain.class);

        assertSucceeded(result);
        List<String> notNotice = result.stderr().stream()
                .filter(line -> !nativeAccessNotice(line) && !line.isBlank()).toList();
        assertEquals(List.of(banner()), notNotice, result::describe);
        assertEquals(OURS, result.value("provider"));
        assertEquals("ok", result.value("stream.echo"));
        assertEquals("ok", result.value("stream.echo.virtual"));
        assertEquals("ok", result.value("datagram"));
        assertEquals("ok", result.value("multicast"));
        assertEquals("3", result.value("multicast.ttl"));
        assertEquals("ok", result.value("nio"));
        assertEquals("true", result.value("javanet.installed"));
        assertEquals("4321", result.value("implaccept.timeout"));
        // 3 servers. Per echo server, 3 clients and 4 accepts went through our factories
        // (ServerSocket.accept asks the factory before it waits, so the accept that the close ends
        // made one too); the implAccept server's client and its own Socket: 16.
        assertEquals("3", result.value("javanet.serversockets"));
        assertEquals("16", result.value("javanet.sockets"));
        assertEquals("true", result.value("datagram.hooked"));
        // The application's class path holds only its own classes: the agent's come from its jar.
        assertEquals(ChildJvm.AGENT_JAR.toAbsolutePath().toString(), result.value("agent.source"));
    }

    @Test
    void withNativeAccessEnabledStderrHoldsNoWarningAtAll() throws Exception {
        ChildJvm.Result result = child().option("--enable-native-access=ALL-UNNAMED").agent(null)
                .run(NetworkingMain.class);

        assertSucceeded(result);
        assertEquals(List.of(banner()), result.stderr(), result::describe);
        assertTrue(result.stderr().stream().noneMatch(line -> line.contains("WARNING")), result::describe);
    }

    @Test
    void bannerFalseSilencesTheAgent() throws Exception {
        ChildJvm.Result result = child().option("--enable-native-access=ALL-UNNAMED").agent("banner=false")
                .run(NetworkingMain.class);

        assertSucceeded(result);
        assertEquals(List.of(), result.stderr(), result::describe);
        assertEquals(OURS, result.value("provider"));
        assertEquals("ok", result.value("stream.echo"));
    }

    @Test
    void theApplicationRunsTheSameWithoutTheAgent() throws Exception {
        // The control: the same main, no agent, the JDK's provider; the same results.
        ChildJvm.Result result = child().run(NetworkingMain.class);

        assertSucceeded(result);
        assertEquals(List.of(), result.stderr(), result::describe);
        assertTrue(result.value("provider").startsWith("sun.nio.ch."), result::describe);
        assertEquals("ok", result.value("stream.echo"));
        assertEquals("ok", result.value("multicast"));
        assertEquals("4321", result.value("implaccept.timeout"));
        assertEquals("false", result.value("agent.present"));
    }

    @Test
    void aBadOptionIsOneErrorLineAndTheApplicationRunsWithoutTheAgent() throws Exception {
        ChildJvm.Result result = child().agent("spin=fast").run(NetworkingMain.class);

        assertSucceeded(result);
        assertEquals(List.of("arrakis: error: option spin=fast in the agent arguments: 'fast' is not a duration like"
                + " 50us, 2ms, 1000ns or 0; the agent is not started, and this JVM's networking stays on the kernel"),
                result.stderr(), result::describe);
        assertTrue(result.value("provider").startsWith("sun.nio.ch."), result::describe);
        assertEquals("false", result.value("javanet.installed"));
        assertEquals("false", result.value("datagram.hooked"));
        assertEquals("ok", result.value("stream.echo"));
        assertEquals("ok", result.value("datagram"));
    }

    @Test
    void anUnknownSystemPropertyOptionIsRefusedToo() throws Exception {
        ChildJvm.Result result = child().option("-Darrakis.bakend=shm").agent(null).run(PropertiesMain.class);

        assertSucceeded(result);
        assertEquals(1, result.stderr().size(), result::describe);
        assertTrue(result.stderr().getFirst().startsWith("arrakis: error: unknown option 'bakend' in system properties"
                + " (arrakis.*) (valid: backend, route,"), result::describe);
        assertEquals(null, result.value("java.nio.channels.spi.SelectorProvider"), result::describe);
    }

    @Test
    void optionsFromArgumentsPropertiesAndFileArePublishedInOrderOfPrecedence() throws Exception {
        Path file = directory.resolve("arrakis.properties");
        Files.writeString(file, "spin=3ms\nroute=192.0.2.0/24\nloopback=false\n");
        ChildJvm.Result result = child()
                .option("-Darrakis.spin=2ms")
                .option("-Darrakis.log=error")
                .option("-Darrakis.config=" + file)
                .agent("spin=1ms,banner=false")
                .run(PropertiesMain.class);

        assertSucceeded(result);
        assertEquals(List.of(), result.stderr(), result::describe);
        assertEquals("1ms", result.value("arrakis.spin"));
        assertEquals("error", result.value("arrakis.log"));
        assertEquals("192.0.2.0/24", result.value("arrakis.route"));
        assertEquals("false", result.value("arrakis.loopback"));
        assertEquals("shm", result.value("arrakis.backend"));
        assertEquals(OURS, result.value("java.nio.channels.spi.SelectorProvider"));
    }

    /** A jar whose manifest names {@code agent} as its Premain-Class; the class itself comes from the class path. */
    private Path agentJar(Class<?> agent) throws IOException {
        Path jar = directory.resolve(agent.getSimpleName() + ".jar");
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        manifest.getMainAttributes().putValue("Premain-Class", agent.getName());
        try (OutputStream out = Files.newOutputStream(jar)) {
            new JarOutputStream(out, manifest).close();
        }
        return jar;
    }

    @Test
    void aProviderChosenBeforeTheAgentIsReportedAndLeftAlone() throws Exception {
        ChildJvm.Result result = child().option("-javaagent:" + agentJar(EarlyProviderAgent.class)).agent(null)
                .run(NetworkingMain.class);

        assertSucceeded(result);
        assertEquals(1, result.stderr().size(), result::describe);
        String warning = result.stderr().getFirst();
        assertTrue(warning.startsWith("arrakis: warning: the JVM chose its SelectorProvider (sun.nio.ch."), warning);
        assertTrue(warning.endsWith(") before the agent started: something called SelectorProvider.provider() first"
                + " (another -javaagent, or an option that opened a channel); put -javaagent:arrakis-agent.jar first"
                + " on the command line; nothing is routed through Arrakis"), warning);
        assertTrue(result.value("provider").startsWith("sun.nio.ch."), result::describe);
        assertEquals("false", result.value("javanet.installed"));
        assertEquals("false", result.value("datagram.hooked"));
        assertEquals("ok", result.value("stream.echo"));
    }

    @Test
    void aDatagramSocketClassLoadedBeforeTheAgentIsRetransformed() throws Exception {
        ChildJvm.Result result = child().option("--enable-native-access=ALL-UNNAMED")
                .option("-javaagent:" + agentJar(EarlyDatagramAgent.class)).agent(null).run(NetworkingMain.class);

        assertSucceeded(result);
        assertEquals(List.of(banner()), result.stderr(), result::describe);
        assertEquals("true", result.value("datagram.hooked"));
        assertEquals("ok", result.value("datagram"));
        assertEquals("ok", result.value("multicast"));
    }

    @Test
    void anotherProviderNamedOnTheCommandLineIsLeftInPlace() throws Exception {
        ChildJvm.Result result = child()
                .option("-Djava.nio.channels.spi.SelectorProvider=sun.nio.ch.PollSelectorProvider")
                .agent(null).run(NetworkingMain.class);

        assertSucceeded(result);
        assertEquals(List.of("arrakis: warning: -Djava.nio.channels.spi.SelectorProvider=sun.nio.ch.PollSelectorProvider"
                + " names another provider, which Arrakis leaves in place; nothing is routed through Arrakis"),
                result.stderr(), result::describe);
        assertEquals("sun.nio.ch.PollSelectorProvider", result.value("provider"));
        assertEquals("ok", result.value("nio"));
    }

    @Test
    void datagramSocketsTakeTheirChannelsFromTheProviderAndAdaptorsCanDoWithoutADelegate() throws Exception {
        ChildJvm.Result result = child()
                .option("-Djava.nio.channels.spi.SelectorProvider=" + RecordingProvider.class.getName())
                .option("--enable-native-access=ALL-UNNAMED")
                .agent("banner=false")
                .run(DatagramSpiMain.class);

        assertSucceeded(result);
        assertEquals(List.of(), result.stderr(), result::describe);
        assertEquals("4", result.value("received"));
        assertEquals("true", result.value("multicast.reuseaddress"));
        // DatagramSocket and MulticastSocket each asked the provider, through the rewritten createDelegate;
        assertEquals("[true, true]", result.value("after.sockets"));
        // a DatagramChannel opened by the application is not taken for one;
        assertEquals("[true, true, false]", result.value("after.channel"));
        // and a MulticastSocket built with noDelegate() opened nothing.
        assertEquals("[true, true, false]", result.value("after.delegateless"));
    }

    @Test
    void theJarIsItsOwnLauncherAgentAndPrintsItsUsage() throws Exception {
        ChildJvm.Result result = child().option("--enable-native-access=ALL-UNNAMED").runJar(ChildJvm.AGENT_JAR);

        assertSucceeded(result);
        assertEquals(List.of(banner()), result.stderr(), result::describe); // Launcher-Agent-Class ran agentmain
        assertEquals("Arrakis agent: kernel-bypass networking for unmodified Java programs.", result.stdout().getFirst());
        assertTrue(result.stdout().contains("  spin            50us             a duration like 50us, 2ms, 1000ns or 0"),
                result::describe);
    }

    @Test
    void aSecondStartIsIgnoredWithAWarning() throws Exception {
        // -javaagent, then the same jar's Launcher-Agent-Class: the agent starts once.
        ChildJvm.Result result = child().option("--enable-native-access=ALL-UNNAMED").agent(null)
                .runJar(ChildJvm.AGENT_JAR);

        assertSucceeded(result);
        assertEquals(List.of(banner(), "arrakis: warning: the agent was asked to start twice in this JVM (two -javaagent"
                + " options, or -javaagent and its Launcher-Agent-Class); the second time is ignored"),
                result.stderr(), result::describe);
    }
}
