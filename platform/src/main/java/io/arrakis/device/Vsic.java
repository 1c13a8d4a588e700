package io.arrakis.device;

import java.io.IOException;

/**
 * A virtual storage interface controller onto one virtual storage area (VSA): a range of blocks
 * that belongs to this process alone, reached through command queues. What Arrakis gets from a
 * virtualised storage controller, and what every storage backend (io_uring on a file or block
 * device, plain pread/pwrite, NVMe over VFIO) gives the storage stack.
 *
 * <p>Identity is thread-safe; each {@link VsicQueue} is owned by the thread that submits on it.
 */
public interface Vsic extends AutoCloseable {
    /** A short name unique on this host, as tools show it: {@code "vsa0"}. */
    String name();

    /** The backend that made this VSIC, as registered: {@code "io_uring"}, {@code "file"}, {@code "nvme"}. */
    String backend();

    /** Logical block size in bytes (a power of two, at least 512); I/O is in whole blocks. */
    int blockSize();

    /** Size of the storage area in blocks; block numbers run from 0 to {@code capacityBlocks() - 1}. */
    long capacityBlocks();

    /** Whether {@link VsicQueue#submitFlush} is needed for durability (the device has a volatile cache). */
    boolean hasVolatileWriteCache();

    int queueCount();

    VsicQueue queue(int index);

    /** Releases the queues and their memory; idempotent. Commands still in flight complete or fail first. */
    @Override
    void close() throws IOException;
}
