package io.arrakis.provider.net;

import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassHierarchyResolver;
import java.lang.classfile.ClassModel;
import java.lang.classfile.ClassTransform;
import java.lang.classfile.CodeBuilder;
import java.lang.classfile.CodeElement;
import java.lang.classfile.CodeTransform;
import java.lang.classfile.Instruction;
import java.lang.classfile.Label;
import java.lang.classfile.MethodModel;
import java.lang.classfile.Opcode;
import java.lang.classfile.constantpool.ClassEntry;
import java.lang.classfile.instruction.InvokeInstruction;
import java.lang.constant.ClassDesc;
import java.lang.constant.MethodTypeDesc;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.reflect.AccessFlag;
import java.net.DatagramSocket;
import java.net.SocketAddress;
import java.nio.channels.spi.SelectorProvider;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Puts {@code java.net.DatagramSocket} and {@code MulticastSocket} on the JVM's
 * {@link SelectorProvider}. They bypass the SPI: since JDK 15 each one delegates to a
 * {@code DatagramChannel}'s socket adaptor, but the channel comes from
 * {@code sun.nio.ch.DefaultSelectorProvider.get()}, the JDK's own provider, whatever
 * {@code SelectorProvider.provider()} is. {@link #rewrite} changes that one call site in
 * {@code DatagramSocket.createDelegate}:
 *
 * <pre>
 *   before:  DefaultSelectorProvider.get().openUninterruptibleDatagramChannel().socket()
 *   after:   p = SelectorProvider.provider();
 *            (p instanceof SelectorProviderImpl  // the JDK's: exactly as before
 *                ? DefaultSelectorProvider.get().openUninterruptibleDatagramChannel()
 *                : p.openDatagramChannel()).socket()
 * </pre>
 *
 * The delegate is then the provider's own {@code DatagramChannel.socket()} adaptor, as the JDK's
 * delegate is its channel's adaptor. What that asks of a provider:
 * <ul>
 * <li>{@code socket()} must return a {@code java.net.MulticastSocket} subclass ({@code
 *     MulticastSocket} casts its delegate), overriding every public method, as the JDK's
 *     {@code sun.nio.ch.DatagramSocketAdaptor} does;
 * <li>that subclass must be built with {@link #noDelegate()} ({@code super(noDelegate())}):
 *     any other address would make its constructor create a delegate of its own, through this
 *     very call site, for ever;
 * <li>the channel should be uninterruptible when {@link #creatingDatagramSocket()} says the
 *     caller is this call site: a {@code DatagramSocket} is not closed by interrupting a platform
 *     thread blocked in {@code receive}, while a {@code DatagramChannel} is.
 * </ul>
 * Thread-safe (stateless).
 */
public final class DatagramSocketHook {
    /** The class rewritten, in the form {@code ClassFileTransformer}s see it. */
    public static final String TARGET_INTERNAL_NAME = "java/net/DatagramSocket";

    private static final String METHOD = "createDelegate";
    private static final MethodTypeDesc METHOD_TYPE = MethodTypeDesc.of(ClassDesc.of("java.net.DatagramSocket"),
            ClassDesc.of("java.net.SocketAddress"), ClassDesc.of("java.lang.Class"));
    private static final ClassDesc DEFAULT_PROVIDER = ClassDesc.of("sun.nio.ch.DefaultSelectorProvider");
    private static final ClassDesc JDK_PROVIDER = ClassDesc.of("sun.nio.ch.SelectorProviderImpl");
    private static final ClassDesc SPI_PROVIDER = ClassDesc.of("java.nio.channels.spi.SelectorProvider");
    private static final ClassDesc DATAGRAM_CHANNEL = ClassDesc.of("java.nio.channels.DatagramChannel");
    private static final MethodTypeDesc GET = MethodTypeDesc.of(JDK_PROVIDER);
    private static final MethodTypeDesc PROVIDER = MethodTypeDesc.of(SPI_PROVIDER);
    private static final MethodTypeDesc OPEN = MethodTypeDesc.of(DATAGRAM_CHANNEL);
    private static final String OPEN_UNINTERRUPTIBLE = "openUninterruptibleDatagramChannel";
    private static final String OPEN_SPI = "openDatagramChannel";

    private DatagramSocketHook() {}

    /** The class file of {@code java.net.DatagramSocket} was not what {@link #rewrite} expects; it must be left as it is. */
    public static final class UnexpectedShapeException extends Exception {
        private static final long serialVersionUID = 1L;

        UnexpectedShapeException(String message) {
            super(message);
        }
    }

    /**
     * The class file {@code original} of {@code java.net.DatagramSocket} with
     * {@code createDelegate}'s channel taken from {@code SelectorProvider.provider()} (see the
     * class comment), verified with the class-file API's verifier.
     *
     * @throws UnexpectedShapeException when the method or its call site is not exactly as in
     *     JDK 25 (this JDK's {@code DatagramSocket} differs), or the result does not verify
     */
    public static byte[] rewrite(byte[] original) throws UnexpectedShapeException {
        ClassModel model = ClassFile.of().parse(original);
        if (!model.thisClass().asInternalName().equals(TARGET_INTERNAL_NAME)) {
            throw new UnexpectedShapeException("not " + TARGET_INTERNAL_NAME + " but " + model.thisClass().asInternalName());
        }
        ClassFile classFile = ClassFile.of(ClassFile.ClassHierarchyResolverOption.of(hierarchyOf(model)));
        MethodModel method = null;
        for (MethodModel candidate : model.methods()) {
            if (isCreateDelegate(candidate)) {
                method = candidate;
            }
        }
        if (method == null || !method.flags().has(AccessFlag.STATIC) || method.code().isEmpty()) {
            throw new UnexpectedShapeException("no static method " + METHOD + METHOD_TYPE.descriptorString()
                    + " with code in " + TARGET_INTERNAL_NAME);
        }
        checkCallSite(method.code().get().elementList());
        byte[] rewritten = classFile.transformClass(model,
                ClassTransform.transformingMethodBodies(DatagramSocketHook::isCreateDelegate,
                        CodeTransform.ofStateful(CallSiteRewrite::new)));
        List<VerifyError> errors = classFile.verify(rewritten);
        if (!errors.isEmpty()) {
            throw new UnexpectedShapeException("the rewritten class does not verify: " + errors.getFirst().getMessage());
        }
        return rewritten;
    }

    /**
     * What stack maps and the verifier need to know of class hierarchies, without loading any
     * class: the class being rewritten is described by its own model (it is being loaded, and
     * loading it again would be a {@code ClassCircularityError}), the others by their class files.
     */
    private static ClassHierarchyResolver hierarchyOf(ClassModel model) {
        Map<ClassDesc, ClassDesc> self = new HashMap<>();
        self.put(model.thisClass().asSymbol(), model.superclass().map(ClassEntry::asSymbol).orElse(null));
        return ClassHierarchyResolver.of(List.of(), self)
                .orElse(ClassHierarchyResolver.ofResourceParsing(ClassLoader.getSystemClassLoader()))
                .cached();
    }

    private static boolean isCreateDelegate(MethodModel method) {
        return method.methodName().equalsString(METHOD) && method.methodTypeSymbol().equals(METHOD_TYPE);
    }

    /** Exactly one {@code DefaultSelectorProvider.get()}, followed by {@code openUninterruptibleDatagramChannel()}, then {@code socket()}. */
    private static void checkCallSite(List<CodeElement> code) throws UnexpectedShapeException {
        List<Instruction> instructions = new ArrayList<>();
        for (CodeElement element : code) {
            if (element instanceof Instruction instruction) {
                instructions.add(instruction);
            }
        }
        int found = 0;
        for (int i = 0; i < instructions.size(); i++) {
            if (isDefaultProviderGet(instructions.get(i))) {
                found++;
                if (i + 2 >= instructions.size() || !isOpenUninterruptible(instructions.get(i + 1))
                        || !isInvoke(instructions.get(i + 2), Opcode.INVOKEVIRTUAL, DATAGRAM_CHANNEL, "socket")) {
                    throw new UnexpectedShapeException(METHOD + " calls DefaultSelectorProvider.get() but not then "
                            + OPEN_UNINTERRUPTIBLE + "().socket()");
                }
            }
        }
        if (found != 1) {
            throw new UnexpectedShapeException(METHOD + " calls DefaultSelectorProvider.get() " + found
                    + " times, expected once");
        }
    }

    private static boolean isDefaultProviderGet(CodeElement element) {
        return isInvoke(element, Opcode.INVOKESTATIC, DEFAULT_PROVIDER, "get")
                && ((InvokeInstruction) element).typeSymbol().equals(GET);
    }

    private static boolean isOpenUninterruptible(CodeElement element) {
        return isInvoke(element, Opcode.INVOKEVIRTUAL, JDK_PROVIDER, OPEN_UNINTERRUPTIBLE)
                && ((InvokeInstruction) element).typeSymbol().equals(OPEN);
    }

    private static boolean isInvoke(CodeElement element, Opcode opcode, ClassDesc owner, String name) {
        return element instanceof InvokeInstruction invoke && invoke.opcode() == opcode
                && invoke.owner().asSymbol().equals(owner) && invoke.name().equalsString(name);
    }

    /** Replaces the call site in one pass over createDelegate's code (one instance per method body). */
    private static final class CallSiteRewrite implements CodeTransform {
        private boolean dropOriginalOpen;

        @Override
        public void accept(CodeBuilder code, CodeElement element) {
            if (isDefaultProviderGet(element)) {
                Label spiProvider = code.newLabel();
                Label haveChannel = code.newLabel();
                code.invokestatic(SPI_PROVIDER, "provider", PROVIDER)
                        .dup()
                        .instanceOf(JDK_PROVIDER)
                        .ifeq(spiProvider)
                        .pop()
                        .invokestatic(DEFAULT_PROVIDER, "get", GET)
                        .invokevirtual(JDK_PROVIDER, OPEN_UNINTERRUPTIBLE, OPEN)
                        .goto_(haveChannel)
                        .labelBinding(spiProvider)
                        .invokevirtual(SPI_PROVIDER, OPEN_SPI, OPEN)
                        .labelBinding(haveChannel);
                dropOriginalOpen = true;
            } else if (dropOriginalOpen && isOpenUninterruptible(element)) {
                dropOriginalOpen = false; // emitted above, on the JDK provider's branch
            } else {
                code.with(element);
            }
        }
    }

    /**
     * Whether the caller of the provider method running now is {@code java.net.DatagramSocket}'s
     * delegate creation (the rewritten call site): the first frame outside
     * {@link SelectorProvider} subclasses is {@code DatagramSocket.createDelegate}. A provider
     * asks this in {@code openDatagramChannel()} to open the uninterruptible channel a
     * {@code DatagramSocket} needs.
     */
    public static boolean creatingDatagramSocket() {
        return StackWalker.getInstance(Set.of(StackWalker.Option.RETAIN_CLASS_REFERENCE)).walk(frames -> frames
                .skip(1)
                .filter(frame -> !SelectorProvider.class.isAssignableFrom(frame.getDeclaringClass()))
                .findFirst()
                .map(frame -> frame.getDeclaringClass() == DatagramSocket.class && frame.getMethodName().equals(METHOD))
                .orElse(false));
    }

    /**
     * The address that makes a {@code DatagramSocket}/{@code MulticastSocket} constructor create
     * no delegate ({@code DatagramSocket.NO_DELEGATE}), for a provider's socket adaptor:
     * {@code super(DatagramSocketHook.noDelegate())}. Needs {@code java.net} open to this class's
     * module, which the agent arranges.
     *
     * @throws IllegalStateException naming the fix when {@code java.net} is not open to us, or
     *     this JDK has no such field
     */
    public static SocketAddress noDelegate() {
        return NoDelegate.VALUE;
    }

    private static final class NoDelegate {
        static final SocketAddress VALUE = load();

        private static SocketAddress load() {
            try {
                VarHandle field = MethodHandles.privateLookupIn(DatagramSocket.class, MethodHandles.lookup())
                        .findStaticVarHandle(DatagramSocket.class, "NO_DELEGATE", SocketAddress.class);
                return (SocketAddress) field.get();
            } catch (IllegalAccessException e) {
                throw new IllegalStateException("Arrakis: java.net is not open to " + DatagramSocketHook.class.getModule()
                        + ", so a DatagramSocket adaptor cannot be built without a delegate of its own: start the JVM"
                        + " with -javaagent:<arrakis agent jar>, or add --add-opens java.base/java.net=ALL-UNNAMED", e);
            } catch (NoSuchFieldException e) {
                throw new IllegalStateException("Arrakis: this JDK's java.net.DatagramSocket has no NO_DELEGATE"
                        + " (Arrakis needs JDK 25 or newer)", e);
            }
        }
    }
}
