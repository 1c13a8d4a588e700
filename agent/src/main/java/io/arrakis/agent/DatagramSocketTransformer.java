package io.arrakis.agent;

import io.arrakis.provider.net.DatagramSocketHook;
import java.lang.instrument.ClassFileTransformer;
import java.security.ProtectionDomain;

/**
 * Applies {@link DatagramSocketHook#rewrite} to {@code java.net.DatagramSocket} when it is loaded
 * or retransformed; leaves every other class, and a {@code DatagramSocket} of an unexpected shape,
 * as they are (saying so in one warning line). Thread-safe: the JVM may call it from any thread.
 */
final class DatagramSocketTransformer implements ClassFileTransformer {
    private final AgentConsole console;
    private volatile boolean rewritten;

    DatagramSocketTransformer(AgentConsole console) {
        this.console = console;
    }

    /** Whether {@code java.net.DatagramSocket} now runs the rewritten code. */
    boolean rewritten() {
        return rewritten;
    }

    @Override
    public byte[] transform(Module module, ClassLoader loader, String className, Class<?> classBeingRedefined,
            ProtectionDomain protectionDomain, byte[] classfileBuffer) {
        if (loader != null || !DatagramSocketHook.TARGET_INTERNAL_NAME.equals(className)) {
            return null;
        }
        try {
            byte[] rewrittenClass = DatagramSocketHook.rewrite(classfileBuffer);
            rewritten = true;
            if (console.logs(AgentConsole.Level.DEBUG)) {
                console.log(AgentConsole.Level.DEBUG, "rewrote java.net.DatagramSocket.createDelegate to take its"
                        + " channel from SelectorProvider.provider()" + (classBeingRedefined != null ? " (retransformed)" : ""));
            }
            return rewrittenClass;
        } catch (DatagramSocketHook.UnexpectedShapeException e) {
            leftAlone(e.getMessage());
        } catch (RuntimeException | LinkageError e) {
            leftAlone(e.toString());
        }
        return null;
    }

    private void leftAlone(String why) {
        console.warning("java.net.DatagramSocket is not what this agent expects (" + why
                + "); DatagramSocket and MulticastSocket stay on the JDK's own channels");
    }
}
