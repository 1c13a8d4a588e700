package io.arrakis.device.tap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.linux.Errno;
import io.arrakis.linux.LinuxException;
import io.arrakis.testing.NetworkNamespace;
import java.io.File;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class TapVnicBackendTest {
    @Test
    void asRootTheBackendIsAvailable() {
        assertEquals(Optional.empty(), new TapVnicBackend().unavailableReason());
    }

    /**
     * A child JVM whose capability bounding set lacks CAP_NET_ADMIN (set with {@code setpriv},
     * so the kernel, not a mock, says EPERM) is told exactly what it is missing.
     */
    @Test
    void withoutCapNetAdminTheBackendSaysItNeedsTheCapability() throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        String classPath = codeSource(TapVnicBackend.class) + File.pathSeparator + codeSource(TapProbe.class);
        NetworkNamespace.Result result = NetworkNamespace.run(List.of("setpriv", "--bounding-set=-net_admin",
                "--inh-caps=-net_admin", java, "--enable-native-access=ALL-UNNAMED", "-cp", classPath,
                TapProbe.class.getName()), Duration.ofSeconds(20)).orThrow();
        String expected = "needs CAP_NET_ADMIN: run as root or grant the capability";
        List<String> lines = result.stdout().lines().toList();
        assertEquals(2, lines.size(), result.toString());
        assertTrue(lines.get(0).startsWith("reason: " + expected), lines.get(0));
        assertTrue(lines.get(1).startsWith("open: tap VNIC probe: " + expected), lines.get(1));
    }

    @Test
    void aMissingTunDeviceOrAnUnreadableOneIsExplained() {
        assertTrue(TapVnicBackend.openFailure(new LinuxException("open(path=\"/dev/net/tun\")",
                Errno.ENOENT)).contains("load the tun module"));
        assertTrue(TapVnicBackend.openFailure(new LinuxException("open(path=\"/dev/net/tun\")",
                Errno.EACCES)).contains("run as root"));
    }

    private static String codeSource(Class<?> type) throws URISyntaxException {
        return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
    }
}
