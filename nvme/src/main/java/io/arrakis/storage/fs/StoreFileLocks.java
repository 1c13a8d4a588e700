package io.arrakis.storage.fs;

import io.arrakis.storage.log.LogFile;
import io.arrakis.storage.log.LogStore;
import java.io.IOException;
import java.nio.channels.Channel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The JVM's table of locks on store files, as the JDK's {@code sun.nio.ch.FileLockTable}: a lock
 * that overlaps one already held in this JVM on the same file (through any channel) fails with
 * {@link OverlappingFileLockException}. Other processes need no entry: a store is opened by one
 * process at a time ({@link StorageMount} holds its VSA's lock). Thread-safe (one monitor).
 */
final class StoreFileLocks {
    private record Key(LogStore store, int fileId) {}

    private static final Map<Key, List<Lock>> LOCKS = new HashMap<>();

    private StoreFileLocks() {}

    static synchronized void add(LogFile file, Lock lock) {
        List<Lock> held = LOCKS.computeIfAbsent(new Key(file.store(), file.id()), k -> new ArrayList<>());
        for (Lock other : held) {
            if (other.overlaps(lock.position(), lock.size())) {
                throw new OverlappingFileLockException();
            }
        }
        held.add(lock);
    }

    static synchronized void remove(LogFile file, Lock lock) {
        Key key = new Key(file.store(), file.id());
        List<Lock> held = LOCKS.get(key);
        if (held != null) {
            held.remove(lock);
            if (held.isEmpty()) {
                LOCKS.remove(key);
            }
        }
    }

    /** Invalidates and forgets every lock {@code channel} holds (at its close). */
    static synchronized void releaseAll(LogFile file, StoreFileChannel channel) {
        Key key = new Key(file.store(), file.id());
        List<Lock> held = LOCKS.get(key);
        if (held == null) {
            return;
        }
        held.removeIf(lock -> {
            if (lock.acquiredBy() == channel) {
                lock.invalidate();
                return true;
            }
            return false;
        });
        if (held.isEmpty()) {
            LOCKS.remove(key);
        }
    }

    /** A lock on a range of a store file. */
    static final class Lock extends FileLock {
        private volatile boolean valid = true;

        Lock(StoreFileChannel channel, long position, long size, boolean shared) {
            super(channel, position, size, shared);
        }

        @Override
        public boolean isValid() {
            return valid;
        }

        void invalidate() {
            valid = false;
        }

        @Override
        public void release() throws IOException {
            Channel channel = acquiredBy();
            if (!channel.isOpen()) {
                throw new java.nio.channels.ClosedChannelException();
            }
            if (valid) {
                valid = false;
                remove(((StoreFileChannel) channel).file(), this);
            }
        }
    }
}
