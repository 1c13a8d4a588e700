package io.arrakis.provider.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.CodeModel;
import java.lang.classfile.MethodModel;
import java.lang.classfile.instruction.InvokeInstruction;
import java.lang.classfile.instruction.TypeCheckInstruction;
import java.lang.constant.ClassDesc;
import java.lang.constant.MethodTypeDesc;
import java.net.URI;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The load-time rewrite of {@code DatagramSocket.createDelegate} on this JDK's own class file
 * (what it changes, and that it changes nothing else), and its refusal of class files of another
 * shape. Running the rewritten class needs the agent: see the agent's tests.
 */
class DatagramSocketHookTest {
    private static final ClassDesc DATAGRAM_SOCKET = ClassDesc.of("java.net.DatagramSocket");
    private static final MethodTypeDesc CREATE_DELEGATE = MethodTypeDesc.of(DATAGRAM_SOCKET,
            ClassDesc.of("java.net.SocketAddress"), ClassDesc.of("java.lang.Class"));

    private static byte[] jdkDatagramSocket() throws IOException {
        return Files.readAllBytes(FileSystems.getFileSystem(URI.create("jrt:/"))
                .getPath("modules", "java.base", "java", "net", "DatagramSocket.class"));
    }

    private static MethodModel createDelegate(ClassModel model) {
        return model.methods().stream()
                .filter(m -> m.methodName().equalsString("createDelegate"))
                .findFirst()
                .orElseThrow();
    }

    private static List<String> calls(MethodModel method) {
        return method.code().orElseThrow().elementStream()
                .filter(e -> e instanceof InvokeInstruction)
                .map(e -> (InvokeInstruction) e)
                .map(i -> i.owner().asInternalName() + "." + i.name().stringValue())
                .toList();
    }

    @Test
    void theRewrittenDelegateAsksTheSpiAndKeepsTheJdkPathForTheJdksProvider() throws Exception {
        byte[] original = jdkDatagramSocket();
        byte[] rewritten = DatagramSocketHook.rewrite(original);

        assertEquals(List.of(), ClassFile.of().verify(rewritten));
        MethodModel method = createDelegate(ClassFile.of().parse(rewritten));
        List<String> calls = calls(method);
        int provider = calls.indexOf("java/nio/channels/spi/SelectorProvider.provider");
        int jdkGet = calls.indexOf("sun/nio/ch/DefaultSelectorProvider.get");
        int jdkOpen = calls.indexOf("sun/nio/ch/SelectorProviderImpl.openUninterruptibleDatagramChannel");
        int spiOpen = calls.indexOf("java/nio/channels/spi/SelectorProvider.openDatagramChannel");
        int socket = calls.indexOf("java/nio/channels/DatagramChannel.socket");
        assertTrue(provider >= 0 && provider < jdkGet && jdkGet < jdkOpen && jdkOpen < spiOpen && spiOpen < socket,
                () -> "unexpected call order: " + calls);
        assertEquals(1, calls.stream().filter(c -> c.endsWith("DefaultSelectorProvider.get")).count());
        assertEquals(1, calls.stream().filter(c -> c.endsWith("openUninterruptibleDatagramChannel")).count());
        assertTrue(method.code().orElseThrow().elementStream().anyMatch(e -> e instanceof TypeCheckInstruction check
                && check.type().asInternalName().equals("sun/nio/ch/SelectorProviderImpl")));
    }

    @Test
    void nothingElseInTheClassChanges() throws Exception {
        ClassModel before = ClassFile.of().parse(jdkDatagramSocket());
        ClassModel after = ClassFile.of().parse(DatagramSocketHook.rewrite(jdkDatagramSocket()));

        assertEquals(before.fields().size(), after.fields().size());
        assertEquals(signatures(before).keySet(), signatures(after).keySet());
        for (MethodModel method : before.methods()) {
            if (method.methodName().equalsString("createDelegate")) {
                continue;
            }
            String signature = method.methodName().stringValue() + method.methodType().stringValue();
            MethodModel same = signatures(after).get(signature);
            assertEquals(method.flags().flagsMask(), same.flags().flagsMask(), signature);
            assertEquals(body(method), body(same), signature);
        }
        assertEquals(before.flags().flagsMask(), after.flags().flagsMask());
        assertEquals(before.superclass(), after.superclass());
    }

    private static Map<String, MethodModel> signatures(ClassModel model) {
        return model.methods().stream().collect(Collectors.toMap(
                m -> m.methodName().stringValue() + m.methodType().stringValue(), Function.identity()));
    }

    /** A method body's size in code elements and the methods it calls, enough to see it untouched. */
    private static String body(MethodModel method) {
        return method.code().map(CodeModel::elementList).map(List::size).map(String::valueOf).orElse("no code")
                + " " + (method.code().isPresent() ? calls(method) : List.of());
    }

    @Test
    void anotherClassIsRefused() throws Exception {
        byte[] other = ClassFile.of().build(ClassDesc.of("java.net.Other"), c -> {});
        var e = assertThrows(DatagramSocketHook.UnexpectedShapeException.class, () -> DatagramSocketHook.rewrite(other));
        assertEquals("not java/net/DatagramSocket but java/net/Other", e.getMessage());
    }

    @Test
    void aDatagramSocketWithoutTheMethodIsRefused() {
        byte[] noMethod = ClassFile.of().build(DATAGRAM_SOCKET, c -> {});
        var e = assertThrows(DatagramSocketHook.UnexpectedShapeException.class, () -> DatagramSocketHook.rewrite(noMethod));
        assertTrue(e.getMessage().startsWith("no static method createDelegate"), e.getMessage());
    }

    @Test
    void aCreateDelegateWithoutTheCallSiteIsRefused() {
        byte[] noCallSite = ClassFile.of().build(DATAGRAM_SOCKET, c -> c.withMethodBody("createDelegate", CREATE_DELEGATE,
                ClassFile.ACC_STATIC, code -> code.aconst_null().areturn()));
        var e = assertThrows(DatagramSocketHook.UnexpectedShapeException.class, () -> DatagramSocketHook.rewrite(noCallSite));
        assertEquals("createDelegate calls DefaultSelectorProvider.get() 0 times, expected once", e.getMessage());
    }

    @Test
    void aCallSiteThatOpensSomethingElseIsRefused() {
        ClassDesc defaultProvider = ClassDesc.of("sun.nio.ch.DefaultSelectorProvider");
        ClassDesc jdkProvider = ClassDesc.of("sun.nio.ch.SelectorProviderImpl");
        byte[] otherCall = ClassFile.of().build(DATAGRAM_SOCKET, c -> c.withMethodBody("createDelegate", CREATE_DELEGATE,
                ClassFile.ACC_STATIC, code -> code
                        .invokestatic(defaultProvider, "get", MethodTypeDesc.of(jdkProvider))
                        .invokevirtual(jdkProvider, "openSelector", MethodTypeDesc.of(ClassDesc.of(
                                "java.nio.channels.spi.AbstractSelector")))
                        .pop()
                        .aconst_null()
                        .areturn()));
        var e = assertThrows(DatagramSocketHook.UnexpectedShapeException.class, () -> DatagramSocketHook.rewrite(otherCall));
        assertEquals("createDelegate calls DefaultSelectorProvider.get() but not then"
                + " openUninterruptibleDatagramChannel().socket()", e.getMessage());
    }

    @Test
    void aNonStaticCreateDelegateIsRefused() {
        byte[] instanceMethod = ClassFile.of().build(DATAGRAM_SOCKET, c -> c.withMethodBody("createDelegate", CREATE_DELEGATE,
                ClassFile.ACC_PUBLIC, code -> code.aconst_null().areturn()));
        var e = assertThrows(DatagramSocketHook.UnexpectedShapeException.class,
                () -> DatagramSocketHook.rewrite(instanceMethod));
        assertEquals("no static method createDelegate(Ljava/net/SocketAddress;Ljava/lang/Class;)Ljava/net/DatagramSocket;"
                + " with code in java/net/DatagramSocket", e.getMessage());
    }

    @Test
    void aProviderCalledFromElsewhereIsNotCreatingADatagramSocket() throws Exception {
        assertFalse(DatagramSocketHook.creatingDatagramSocket());
        var provider = new CountingProvider() {
            boolean asked;

            @Override
            public java.nio.channels.DatagramChannel openDatagramChannel() throws IOException {
                asked = DatagramSocketHook.creatingDatagramSocket();
                return super.openDatagramChannel();
            }
        };
        provider.openDatagramChannel().close();
        assertFalse(provider.asked);
    }
}
