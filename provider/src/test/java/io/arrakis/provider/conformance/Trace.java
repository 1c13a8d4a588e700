package io.arrakis.provider.conformance;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.DatagramSocket;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.MulticastSocket;
import java.net.NetworkInterface;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketOption;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.channels.MembershipKey;
import java.nio.channels.Pipe;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Set;

/**
 * The ordered, normalised observations one case made on one network: return values, exceptions
 * (type and message), channel and key states, option values. Values that legitimately differ
 * between providers are recorded normalised: the network's server address as {@code server},
 * ephemeral ports as {@code port}, wildcards as {@code wildcard4}/{@code wildcard6}; anything else
 * a case must turn into a fact first (a comparison, a count). Lines are added by the case's own
 * thread; helper threads hand their outcomes back through {@link Background}.
 */
public final class Trace {
    /** An action that may throw anything a channel operation throws. */
    @FunctionalInterface
    public interface IoSupplier<T> {
        T get() throws Exception;
    }

    /** A void action that may throw anything a channel operation throws. */
    @FunctionalInterface
    public interface IoAction {
        void run() throws Exception;
    }

    private final Network network;
    private final List<String> lines = Collections.synchronizedList(new ArrayList<>());

    Trace(Network network) {
        this.network = network;
    }

    /** Runs {@code action} and records {@code label -> value} or {@code label -> threw Type: message}; returns the value or null. */
    public <T> T call(String label, IoSupplier<T> action) {
        try {
            T value = action.get();
            add(label + " -> " + show(value));
            return value;
        } catch (Exception e) {
            add(label + " -> threw " + exception(e));
            return null;
        }
    }

    /** Runs {@code action} and records {@code label -> ok} or the exception. */
    public boolean run(String label, IoAction action) {
        try {
            action.run();
            add(label + " -> ok");
            return true;
        } catch (Exception e) {
            add(label + " -> threw " + exception(e));
            return false;
        }
    }

    /** Records {@code label = value}. */
    public void note(String label, Object value) {
        add(label + " = " + show(value));
    }

    /** Records an outcome handed back by a helper thread. */
    public void outcome(String label, Background.Outcome outcome) {
        if (outcome.timedOut()) {
            add(label + " -> still running after " + Background.AWAIT.toMillis() + " ms");
        } else if (outcome.error() != null) {
            add(label + " -> threw " + exception(outcome.error()));
        } else {
            add(label + " -> " + show(outcome.value()));
        }
    }

    /** Records the blocking mode, openness, registration and connection state of a channel. */
    public void state(String label, SelectableChannel channel) {
        StringBuilder s = new StringBuilder();
        s.append("open=").append(channel.isOpen())
                .append(" blocking=").append(channel.isBlocking())
                .append(" registered=").append(channel.isRegistered());
        if (channel instanceof SocketChannel sc) {
            s.append(" connected=").append(sc.isConnected()).append(" pending=").append(sc.isConnectionPending());
        } else if (channel instanceof DatagramChannel dc) {
            s.append(" connected=").append(dc.isConnected());
        }
        add(label + ": " + s);
    }

    /** Records validity, interest and ready sets of a key (the sets only while it is valid). */
    public void key(String label, SelectionKey key) {
        if (!key.isValid()) {
            add(label + ": invalid");
            return;
        }
        try {
            add(label + ": valid interest=" + ops(key.interestOps()) + " ready=" + ops(key.readyOps()));
        } catch (RuntimeException e) {
            add(label + ": threw " + exception(e));
        }
    }

    /** Records only that {@code action} failed with some IOException (e.g. "Broken pipe" or "Connection reset", which races decide). */
    public void failsWithIoException(String label, IoAction action) {
        try {
            action.run();
            add(label + " -> ok");
        } catch (ClosedChannelException e) {
            add(label + " -> threw " + exception(e));
        } catch (java.io.IOException e) {
            add(label + " -> threw IOException");
        } catch (Exception e) {
            add(label + " -> threw " + exception(e));
        }
    }

    void add(String line) {
        lines.add(line);
    }

    List<String> lines() {
        synchronized (lines) {
            return List.copyOf(lines);
        }
    }

    /** Selection-key operation bits by name, e.g. {@code READ|WRITE}, or {@code 0}. */
    static String ops(int ops) {
        if (ops == 0) {
            return "0";
        }
        List<String> names = new ArrayList<>();
        if ((ops & SelectionKey.OP_READ) != 0) names.add("READ");
        if ((ops & SelectionKey.OP_WRITE) != 0) names.add("WRITE");
        if ((ops & SelectionKey.OP_CONNECT) != 0) names.add("CONNECT");
        if ((ops & SelectionKey.OP_ACCEPT) != 0) names.add("ACCEPT");
        int other = ops & ~(SelectionKey.OP_READ | SelectionKey.OP_WRITE | SelectionKey.OP_CONNECT | SelectionKey.OP_ACCEPT);
        if (other != 0) names.add("0x" + Integer.toHexString(other));
        return String.join("|", names);
    }

    /** {@code Type: message}; java.* types by simple name, any other by full name so a foreign exception stands out. */
    String exception(Throwable e) {
        String type = e.getClass().getName().startsWith("java.") ? e.getClass().getSimpleName() : e.getClass().getName();
        String message = e.getMessage();
        if (message == null) {
            return type;
        }
        String host = network.serverAddress().getHostAddress();
        return type + ": " + message.replace(host, "server").replaceAll("server:\\d+", "server:port");
    }

    String show(Object value) {
        return switch (value) {
            case null -> "null";
            case String s -> s;
            case Number n -> n.toString();
            case Boolean b -> b.toString();
            case Character c -> "'" + c + "'";
            case Enum<?> e -> e.name();
            case InetSocketAddress a -> (a.isUnresolved() ? a.getHostString() : address(a.getAddress())) + ":" + (a.getPort() == 0 ? "0" : "port");
            case InetAddress a -> address(a);
            case ByteBuffer b -> "ByteBuffer[pos=" + b.position() + " lim=" + b.limit() + " cap=" + b.capacity() + "]";
            case byte[] bytes -> Arrays.toString(bytes);
            case SocketOption<?> option -> option.name();
            case NetworkInterface ni -> "interface " + ni.getName();
            case Set<?> set -> set.stream().map(this::show).sorted().toList().toString();
            case Collection<?> list -> list.stream().map(this::show).toList().toString();
            default -> "a " + publicType(value);
        };
    }

    private String address(InetAddress a) {
        if (a.equals(network.serverAddress())) {
            return "server";
        }
        if (a.isAnyLocalAddress()) {
            return a instanceof Inet4Address ? "wildcard4" : "wildcard6";
        }
        return a.getHostAddress();
    }

    private static final List<Class<?>> PUBLIC_TYPES = List.of(
            SocketChannel.class, ServerSocketChannel.class, DatagramChannel.class,
            Pipe.SourceChannel.class, Pipe.SinkChannel.class, Pipe.class,
            Selector.class, SelectionKey.class, MembershipKey.class,
            Socket.class, ServerSocket.class, MulticastSocket.class, DatagramSocket.class,
            InputStream.class, OutputStream.class);

    /** The JDK type an application sees (implementation classes differ by provider and are not compared). */
    private static String publicType(Object value) {
        for (Class<?> type : PUBLIC_TYPES) {
            if (type.isInstance(value)) {
                return type.getName().startsWith("java.nio.channels.Pipe$") ? "Pipe." + type.getSimpleName() : type.getSimpleName();
            }
        }
        throw new IllegalArgumentException("the trace cannot normalise a " + value.getClass().getName()
                + "; record a fact about it instead (a comparison, a size)");
    }
}
