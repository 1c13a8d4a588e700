package io.arrakis.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Where options come from, which wins, what is refused and how it is said. */
class AgentOptionsTest {
    @TempDir
    Path directory;

    private static Properties properties(String... keyValues) {
        Properties properties = new Properties();
        for (int i = 0; i < keyValues.length; i += 2) {
            properties.setProperty(keyValues[i], keyValues[i + 1]);
        }
        return properties;
    }

    private static Map<String, String> published(AgentOptions options) {
        Properties target = new Properties();
        options.publish(target);
        Map<String, String> values = new TreeMap<>();
        target.stringPropertyNames().forEach(name -> values.put(name, target.getProperty(name)));
        return values;
    }

    private Path file(String text) throws IOException {
        Path file = directory.resolve("arrakis.properties");
        Files.writeString(file, text);
        return file;
    }

    @Test
    void defaultsArePublishedForEveryOptionThatHasOne() throws Exception {
        assertEquals(Map.of(
                        "arrakis.backend", "shm",
                        "arrakis.route", "198.18.0.0/15",
                        "arrakis.loopback", "true",
                        "arrakis.spin", "50us",
                        "arrakis.queues", "1",
                        "arrakis.log", "warning",
                        "arrakis.banner", "true",
                        "arrakis.storage.backend", "file",
                        "arrakis.storage.size", "256m"),
                published(AgentOptions.resolve(null, new Properties())));
    }

    @Test
    void agentArgumentsWinOverPropertiesWhichWinOverTheFile() throws Exception {
        Path file = file("spin=1ms\nlog=error\nbanner=false\nroute=192.0.2.0/24,198.51.100.0/24\n");
        AgentOptions options = AgentOptions.resolve("spin=7us,config=" + file,
                properties("arrakis.spin", "9us", "arrakis.log", "INFO", "unrelated", "x"));
        Map<String, String> published = published(options);
        assertEquals("7us", published.get("arrakis.spin"));
        assertEquals("info", published.get("arrakis.log"));
        assertEquals("false", published.get("arrakis.banner"));
        assertEquals("192.0.2.0/24,198.51.100.0/24", published.get("arrakis.route"));
        assertEquals(file.toString(), published.get("arrakis.config"));
        assertNull(published.get("arrakis.unrelated"));
    }

    @Test
    void theFileCanBeNamedByAProperty() throws Exception {
        Path file = file("backend=loopback\n");
        assertEquals("loopback", AgentOptions.resolve("", properties("arrakis.config", file.toString())).get("backend"));
    }

    @Test
    void aListOptionMayBeRepeatedInTheAgentArguments() throws Exception {
        AgentOptions options = AgentOptions.resolve("route=203.0.113.0/24, route=192.0.2.7", new Properties());
        assertEquals("203.0.113.0/24,192.0.2.7", published(options).get("arrakis.route"));
    }

    @Test
    void anEmptyRouteRoutesNoPrefix() throws Exception {
        AgentOptions options = AgentOptions.resolve("route=", new Properties());
        assertEquals("", published(options).get("arrakis.route"));
        assertEquals("routing 127.0.0.1 listeners through the shm switch (embedded control plane unless one is"
                + " running); everything else via the kernel", ArrakisAgent.banner(options));
    }

    @Test
    void backendOptionsPassThroughForTheChosenBackend() throws Exception {
        AgentOptions options = AgentOptions.resolve("shm.socket=/tmp/x/control.sock",
                properties("arrakis.shm.embedded", "false"));
        assertEquals("/tmp/x/control.sock", published(options).get("arrakis.shm.socket"));
        assertEquals("routing 198.18.0.0/15 and 127.0.0.1 listeners through the shm switch (control plane at"
                + " /tmp/x/control.sock); everything else via the kernel", ArrakisAgent.banner(options));
    }

    @Test
    void theBannerSaysWhatIsRouted() throws Exception {
        assertEquals("routing 198.18.0.0/15 and 127.0.0.1 listeners through the shm switch (embedded control plane"
                + " unless one is running); everything else via the kernel",
                ArrakisAgent.banner(AgentOptions.resolve(null, new Properties())));
        assertEquals("routing 198.51.100.0/24, 198.18.0.0/15 through a TAP device, captured to /tmp/a.pcap;"
                + " everything else via the kernel", ArrakisAgent.banner(AgentOptions.resolve(
                        "backend=tap,route=198.51.100.0/24,route=198.18.0.0/15,loopback=false,capture=/tmp/a.pcap",
                        new Properties())));
    }

    private static String refusal(String arguments, Properties properties) {
        return assertThrows(AgentOptions.BadOptionException.class, () -> AgentOptions.resolve(arguments, properties))
                .getMessage();
    }

    @Test
    void anUnknownOptionIsRefusedNamingTheValidOnes() {
        assertEquals("unknown option 'bakend' in the agent arguments (valid: backend, route, loopback, spin, queues,"
                + " log, banner, capture, storage.mount, storage.vsa, storage.backend, storage.size, config,"
                + " <backend>.<backend option>; backends: af_xdp, loopback, shm, tap, virtio)",
                refusal("bakend=shm", new Properties()));
        assertEquals("unknown option 'rout' in system properties (arrakis.*) (valid: backend, route, loopback, spin,"
                + " queues, log, banner, capture, storage.mount, storage.vsa, storage.backend, storage.size, config,"
                + " <backend>.<backend option>; backends: af_xdp, loopback, shm, tap, virtio)",
                refusal(null, properties("arrakis.rout", "203.0.113.0/24")));
    }

    @Test
    void badValuesAreRefusedSayingWhatIsExpected() {
        assertEquals("option spin=fast in the agent arguments: 'fast' is not a duration like 50us, 2ms, 1000ns or 0",
                refusal("spin=fast", new Properties()));
        assertEquals("option route=203.0.113.0/24,300.1.1.1 in the agent arguments: '300.1.1.1' is not IPv4 prefixes"
                + " like 198.18.0.0/15", refusal("route=203.0.113.0/24,route=300.1.1.1", new Properties()));
        assertEquals("option log=loud in system properties (arrakis.*): 'loud' is not off, error, warning, info,"
                + " debug or trace", refusal(null, properties("arrakis.log", "loud")));
        assertEquals("option queues=0 in the agent arguments: '0' is not a number of VNIC queues from 1 to 16"
                + " (one stack each; selectors share them out)", refusal("queues=0", new Properties()));
        assertEquals("option banner=no in the agent arguments: 'no' is not true or false",
                refusal("banner=no", new Properties()));
        assertEquals("backend=vfio is not a registered VNIC backend (registered: af_xdp, loopback, shm, tap, virtio)",
                refusal("backend=vfio", new Properties()));
    }

    @Test
    void malformedArgumentsAreRefused() {
        assertEquals("'spin' in the agent arguments is not name=value (valid names: backend, route, loopback, spin,"
                + " queues, log, banner, capture, storage.mount, storage.vsa, storage.backend, storage.size, config,"
                + " <backend>.<backend option>)", refusal("spin", new Properties()));
        assertEquals("option spin is given twice in the agent arguments", refusal("spin=1us,spin=2us", new Properties()));
    }

    @Test
    void aBackendOptionForAnotherBackendIsRefused() {
        assertEquals("option tap.interface is for backend tap, but the backend is shm (set backend=tap, or drop the"
                + " option)", refusal("tap.interface=x", new Properties()));
    }

    @Test
    void fileProblemsAreRefusedNamingTheFile() throws Exception {
        Path missing = directory.resolve("missing.properties");
        String message = refusal("config=" + missing, new Properties());
        assertEquals("cannot read the options file " + missing + " (named by the agent arguments):"
                + " java.io.FileNotFoundException: " + missing + " (No such file or directory)", message);
        Path nested = file("config=/elsewhere\n");
        assertEquals("options file " + nested + " names another options file (config=); put every option in one file",
                refusal(null, properties("arrakis.config", nested.toString())));
        Path typo = file("spinn=1us\n");
        assertEquals("unknown option 'spinn' in options file " + typo + " (valid: backend, route, loopback, spin,"
                + " queues, log, banner, capture, storage.mount, storage.vsa, storage.backend, storage.size, config,"
                + " <backend>.<backend option>; backends: af_xdp, loopback, shm, tap, virtio)",
                refusal("config=" + typo, new Properties()));
    }

    @Test
    void storageOptionsAreChecked() throws Exception {
        AgentOptions options = AgentOptions.resolve("storage.mount=/a,storage.mount=/b,storage.vsa=/x.vsa,"
                + "storage.vsa=/y.vsa,storage.backend=io_uring,storage.size=64m", new Properties());
        assertEquals(java.util.List.of("/a", "/b"), options.list("storage.mount"));
        assertEquals(java.util.List.of("/x.vsa", "/y.vsa"), options.list("storage.vsa"));
        assertEquals(64L << 20, AgentOptions.parseSize(options.get("storage.size")));
        assertEquals("option storage.backend=nvme in the agent arguments: 'nvme' is not file or io_uring",
                refusal("storage.backend=nvme", new Properties()));
        assertEquals("option storage.size=1000 in the agent arguments: '1000' is not a new VSA's size: bytes, or"
                + " with k, m, g; 4k multiple >= 64k", refusal("storage.size=1000", new Properties()));
        assertEquals("storage.vsa names 1 VSA image(s) for 2 storage.mount directories; give one per mount, in the"
                + " same order, or none (then each mount's is <mount>.vsa)",
                refusal("storage.mount=/a,storage.mount=/b,storage.vsa=/x.vsa", new Properties()));
    }

    @Test
    void theUsageListsEveryOptionWithItsDefault() {
        String usage = ArrakisAgent.usage();
        for (String line : new String[] {"  backend         shm", "  route           198.18.0.0/15", "  loopback        true",
            "  spin            50us", "  log             warning", "  banner          true", "  capture         (none)", "  config          (none)", "  storage.mount   (none)", "  storage.backend file",
            "--enable-native-access=ALL-UNNAMED"}) {
            assertEquals(true, usage.contains(line), () -> "usage lacks «" + line + "»:\n" + usage);
        }
    }
}
