package io.arrakis.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The jar users put after {@code -javaagent:}: its manifest and what it holds. */
@Tag("agent-jar")
class AgentJarTest {
    @Test
    void theManifestMakesItAnAgentOfEveryKind() throws IOException {
        try (JarFile jar = new JarFile(ChildJvm.AGENT_JAR.toFile())) {
            Attributes main = jar.getManifest().getMainAttributes();
            assertEquals(ArrakisAgent.class.getName(), main.getValue("Premain-Class"));
            assertEquals(ArrakisAgent.class.getName(), main.getValue("Launcher-Agent-Class"));
            assertEquals(ArrakisAgent.class.getName(), main.getValue("Agent-Class"));
            assertEquals(ArrakisAgent.class.getName(), main.getValue("Main-Class"));
            assertEquals("true", main.getValue("Can-Retransform-Classes"));
            assertEquals("true", main.getValue("Can-Redefine-Classes"));
            assertEquals("ALL-UNNAMED", main.getValue("Enable-Native-Access"));
        }
    }

    @Test
    void everyClassIsOursOrRelocatedUnderOurs() throws IOException {
        List<String> foreign = new ArrayList<>();
        int classes = 0;
        try (JarFile jar = new JarFile(ChildJvm.AGENT_JAR.toFile())) {
            for (JarEntry entry : Collections.list(jar.entries())) {
                String name = entry.getName();
                if (entry.isDirectory() || name.startsWith("META-INF/")) {
                    continue;
                }
                if (name.endsWith(".class")) {
                    classes++;
                }
                if (!name.startsWith("io/arrakis/")) {
                    foreign.add(name);
                }
            }
        }
        assertEquals(List.of(), foreign, "files outside io/arrakis/ (relocate them under io.arrakis.shaded)");
        assertTrue(classes > 100, "only " + classes + " classes: are the modules missing from the jar?");
    }

    @Test
    void itCarriesEveryModuleTheAgentNeeds() throws IOException {
        try (JarFile jar = new JarFile(ChildJvm.AGENT_JAR.toFile())) {
            for (String type : new String[] {"io/arrakis/agent/ArrakisAgent.class",
                "io/arrakis/provider/ArrakisSelectorProvider.class", "io/arrakis/provider/net/JavaNetHooks.class",
                "io/arrakis/stack/NetworkStack.class", "io/arrakis/control/ShmVnicBackend.class",
                "io/arrakis/device/DeviceBackends.class"}) {
                assertTrue(jar.getEntry(type) != null, type + " is missing");
            }
            try (InputStream services = jar.getInputStream(jar.getEntry("META-INF/services/io.arrakis.device.VnicBackend"))) {
                List<String> backends = new String(services.readAllBytes(), StandardCharsets.UTF_8).lines()
                        .map(String::strip).filter(line -> !line.isEmpty()).sorted().toList();
                assertEquals(List.of("io.arrakis.control.ShmVnicBackend", "io.arrakis.device.loopback.LoopbackVnicBackend",
                        "io.arrakis.device.tap.TapVnicBackend", "io.arrakis.device.xdp.AfXdpVnicBackend",
                        "io.arrakis.vfio.virtio.VirtioNetVnicBackend"), backends);
            }
            try (InputStream services = jar.getInputStream(jar.getEntry("META-INF/services/io.arrakis.device.VsicBackend"))) {
                List<String> backends = new String(services.readAllBytes(), StandardCharsets.UTF_8).lines()
                        .map(String::strip).filter(line -> !line.isEmpty()).sorted().toList();
                assertEquals(List.of("io.arrakis.nvme.NvmeVsicBackend", "io.arrakis.storage.file.FileVsicBackend",
                        "io.arrakis.storage.uring.UringVsicBackend"), backends,
                        "the storage backends registered in the jar (storage.backend names file and io_uring; the NVMe driver's registration comes with the nvme module)");
            }
        }
    }
}
