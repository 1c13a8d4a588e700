package io.arrakis.provider;

import java.io.IOException;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.nio.channels.MembershipKey;
import java.nio.channels.MulticastChannel;
import java.util.HashSet;
import java.util.Set;

/**
 * A multicast membership of an {@link ArrakisDatagramChannel}: on the kernel side (the JDK's own
 * key, when the channel has a kernel socket), on the user-level side (the stack's group
 * membership of the channel's UDP port), or both, dropped together.
 *
 * <p>The user-level stack cannot filter by source (its receive ring does not keep a datagram's
 * destination, so a source filter could not tell group traffic from unicast): a source-specific
 * membership is a kernel membership only, and {@link #block} throws
 * {@link UnsupportedOperationException} for a key with a user-level side, as the JDK specifies for
 * a system without source filtering. Thread-safe: state changes go through the channel's state
 * lock; the blocked set has its own.
 */
final class ArrakisMembershipKey extends MembershipKey {
    private final ArrakisDatagramChannel channel;
    private final InetAddress group;
    private final NetworkInterface networkInterface;
    private final InetAddress source;
    private final Object blockLock = new Object();
    private Set<InetAddress> blocked;
    private volatile boolean valid = true;

    /** The JDK's key for the kernel side, or null. Guarded by the channel's state lock. */
    MembershipKey kernelKey;
    /** The group as the user-level stack knows it, or 0 when the user-level side is not a member. Same guard. */
    int userGroup;
    /** Made before the channel was bound: join the user-level side too once it exists. Same guard. */
    boolean userSideWanted;

    ArrakisMembershipKey(ArrakisDatagramChannel channel, InetAddress group, NetworkInterface networkInterface,
            InetAddress source) {
        this.channel = channel;
        this.group = group;
        this.networkInterface = networkInterface;
        this.source = source;
    }

    @Override
    public boolean isValid() {
        return valid;
    }

    void invalidate() {
        valid = false;
    }

    @Override
    public void drop() {
        channel.drop(this);
    }

    @Override
    public MembershipKey block(InetAddress toBlock) throws IOException {
        if (source != null) {
            throw new IllegalStateException("key is source-specific");
        }
        synchronized (blockLock) {
            if (blocked != null && blocked.contains(toBlock)) {
                return this;
            }
            channel.block(this, toBlock);
            if (blocked == null) {
                blocked = new HashSet<>();
            }
            blocked.add(toBlock);
        }
        return this;
    }

    @Override
    public MembershipKey unblock(InetAddress toUnblock) {
        synchronized (blockLock) {
            if (blocked == null || !blocked.contains(toUnblock)) {
                throw new IllegalStateException("not blocked");
            }
            channel.unblock(this, toUnblock);
            blocked.remove(toUnblock);
        }
        return this;
    }

    @Override
    public MulticastChannel channel() {
        return channel;
    }

    @Override
    public InetAddress group() {
        return group;
    }

    @Override
    public NetworkInterface networkInterface() {
        return networkInterface;
    }

    @Override
    public InetAddress sourceAddress() {
        return source;
    }

    /** The JDK's form: {@code <group,interface[,source]>}. */
    @Override
    public String toString() {
        StringBuilder b = new StringBuilder(64).append('<').append(group.getHostAddress()).append(',')
                .append(networkInterface.getName());
        if (source != null) {
            b.append(',').append(source.getHostAddress());
        }
        return b.append('>').toString();
    }
}
