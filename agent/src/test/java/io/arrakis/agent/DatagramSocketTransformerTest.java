package io.arrakis.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.classfile.ClassFile;
import java.lang.constant.ClassDesc;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;

/** The transformer rewrites the JDK's DatagramSocket, and leaves anything else alone: quietly, or with one line when it expected to act. */
class DatagramSocketTransformerTest {
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private final DatagramSocketTransformer transformer = new DatagramSocketTransformer(
            new AgentConsole(AgentConsole.Level.WARNING, new PrintStream(err, true, StandardCharsets.UTF_8)));

    private String printed() {
        return err.toString(StandardCharsets.UTF_8);
    }

    @Test
    void theJdksDatagramSocketIsRewritten() throws Exception {
        byte[] jdk = Files.readAllBytes(FileSystems.getFileSystem(URI.create("jrt:/"))
                .getPath("modules", "java.base", "java", "net", "DatagramSocket.class"));
        byte[] rewritten = transformer.transform(Object.class.getModule(), null, "java/net/DatagramSocket", null, null, jdk);

        assertNotNull(rewritten);
        assertTrue(transformer.rewritten());
        assertEquals("", printed());
    }

    @Test
    void aDatagramSocketOfAnotherShapeIsLeftAloneWithOneWarning() {
        byte[] odd = ClassFile.of().build(ClassDesc.of("java.net.DatagramSocket"), c -> {});
        assertNull(transformer.transform(Object.class.getModule(), null, "java/net/DatagramSocket", null, null, odd));

        assertFalse(transformer.rewritten());
        assertEquals("arrakis: warning: java.net.DatagramSocket is not what this agent expects (no static method"
                + " createDelegate(Ljava/net/SocketAddress;Ljava/lang/Class;)Ljava/net/DatagramSocket; with code in"
                + " java/net/DatagramSocket); DatagramSocket and MulticastSocket stay on the JDK's own channels"
                + System.lineSeparator(), printed());
    }

    @Test
    void unreadableBytesAreLeftAloneWithOneWarning() {
        assertNull(transformer.transform(Object.class.getModule(), null, "java/net/DatagramSocket", null, null,
                new byte[] {1, 2, 3}));
        assertTrue(printed().startsWith("arrakis: warning: java.net.DatagramSocket is not what this agent expects ("),
                printed());
        assertEquals(1, printed().lines().count());
    }

    @Test
    void otherClassesAndOtherLoadersAreNotTouched() {
        byte[] bytes = {1, 2, 3};
        assertNull(transformer.transform(Object.class.getModule(), null, "java/net/Socket", null, null, bytes));
        assertNull(transformer.transform(getClass().getModule(), getClass().getClassLoader(), "java/net/DatagramSocket",
                null, null, bytes));
        assertEquals("", printed());
    }
}
