package io.arrakis.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * An io_uring instance ({@code linux/io_uring.h}): a submission queue of SQEs and a completion
 * queue of CQEs, both mapped from the kernel and driven with head/tail indices; plus the raw
 * {@code io_uring_setup}, {@code io_uring_enter} and {@code io_uring_register} calls.
 *
 * <p>Not thread-safe: one thread at a time may prepare and submit, and one thread at a time may
 * reap completions (the same thread or another one); {@link #close} only when neither is active.
 * A thread that touches the ring after close gets an {@link IllegalStateException}, not a fault,
 * because the mappings belong to a shared arena whose closing unmaps them. Preparing, submitting
 * and {@link #drainCompletions} allocate nothing.
 */
public final class IoUring implements AutoCloseable {
    // linux/io_uring.h: io_uring_setup flags
    public static final int IORING_SETUP_IOPOLL = 1;
    public static final int IORING_SETUP_SQPOLL = 1 << 1;
    public static final int IORING_SETUP_SQ_AFF = 1 << 2;
    public static final int IORING_SETUP_CQSIZE = 1 << 3;
    public static final int IORING_SETUP_CLAMP = 1 << 4;
    public static final int IORING_SETUP_SQE128 = 1 << 10;
    public static final int IORING_SETUP_CQE32 = 1 << 11;
    public static final int IORING_SETUP_SINGLE_ISSUER = 1 << 12;
    public static final int IORING_SETUP_NO_SQARRAY = 1 << 16;
    // linux/io_uring.h: features the kernel reports in io_uring_params.features
    public static final int IORING_FEAT_SINGLE_MMAP = 1;
    public static final int IORING_FEAT_NODROP = 1 << 1;
    public static final int IORING_FEAT_RW_CUR_POS = 1 << 3;
    public static final int IORING_FEAT_EXT_ARG = 1 << 8;
    // linux/io_uring.h: io_uring_enter flags
    public static final int IORING_ENTER_GETEVENTS = 1;
    public static final int IORING_ENTER_SQ_WAKEUP = 1 << 1;
    public static final int IORING_ENTER_EXT_ARG = 1 << 3;
    // linux/io_uring.h: sq ring flags
    public static final int IORING_SQ_NEED_WAKEUP = 1;
    // linux/io_uring.h: mmap offsets
    public static final long IORING_OFF_SQ_RING = 0L;
    public static final long IORING_OFF_CQ_RING = 0x8000000L;
    public static final long IORING_OFF_SQES = 0x10000000L;
    // linux/io_uring.h: io_uring_register opcodes
    public static final int IORING_REGISTER_BUFFERS = 0;
    public static final int IORING_UNREGISTER_BUFFERS = 1;
    public static final int IORING_REGISTER_FILES = 2;
    public static final int IORING_UNREGISTER_FILES = 3;
    // linux/io_uring.h: enum io_uring_op
    public static final int IORING_OP_NOP = 0;
    public static final int IORING_OP_READV = 1;
    public static final int IORING_OP_WRITEV = 2;
    public static final int IORING_OP_FSYNC = 3;
    public static final int IORING_OP_READ_FIXED = 4;
    public static final int IORING_OP_WRITE_FIXED = 5;
    public static final int IORING_OP_READ = 22;
    public static final int IORING_OP_WRITE = 23;
    // linux/io_uring.h: sqe flags, fsync flags
    public static final int IOSQE_FIXED_FILE = 1;
    /** The next SQE starts only after this one succeeded; if this one fails, the next completes with -ECANCELED. */
    public static final int IOSQE_IO_LINK = 1 << 2;
    public static final int IORING_FSYNC_DATASYNC = 1;

    /** linux/io_uring.h struct io_sqring_offsets. */
    public static final StructLayout SQRING_OFFSETS = MemoryLayout.structLayout(
            ValueLayout.JAVA_INT.withName("head"), ValueLayout.JAVA_INT.withName("tail"),
            ValueLayout.JAVA_INT.withName("ring_mask"), ValueLayout.JAVA_INT.withName("ring_entries"),
            ValueLayout.JAVA_INT.withName("flags"), ValueLayout.JAVA_INT.withName("dropped"),
            ValueLayout.JAVA_INT.withName("array"), ValueLayout.JAVA_INT.withName("resv1"),
            ValueLayout.JAVA_LONG.withName("user_addr"));
    /** linux/io_uring.h struct io_cqring_offsets. */
    public static final StructLayout CQRING_OFFSETS = MemoryLayout.structLayout(
            ValueLayout.JAVA_INT.withName("head"), ValueLayout.JAVA_INT.withName("tail"),
            ValueLayout.JAVA_INT.withName("ring_mask"), ValueLayout.JAVA_INT.withName("ring_entries"),
            ValueLayout.JAVA_INT.withName("overflow"), ValueLayout.JAVA_INT.withName("cqes"),
            ValueLayout.JAVA_INT.withName("flags"), ValueLayout.JAVA_INT.withName("resv1"),
            ValueLayout.JAVA_LONG.withName("user_addr"));
    /** linux/io_uring.h struct io_uring_params (120 bytes). */
    public static final StructLayout PARAMS = MemoryLayout.structLayout(
            ValueLayout.JAVA_INT.withName("sq_entries"), ValueLayout.JAVA_INT.withName("cq_entries"),
            ValueLayout.JAVA_INT.withName("flags"), ValueLayout.JAVA_INT.withName("sq_thread_cpu"),
            ValueLayout.JAVA_INT.withName("sq_thread_idle"), ValueLayout.JAVA_INT.withName("features"),
            ValueLayout.JAVA_INT.withName("wq_fd"),
            MemoryLayout.sequenceLayout(3, ValueLayout.JAVA_INT).withName("resv"),
            SQRING_OFFSETS.withName("sq_off"), CQRING_OFFSETS.withName("cq_off"));

    // linux/io_uring.h struct io_uring_sqe (64 bytes; the unions are named by the member we use)
    private static final int SQE_SIZE = 64;
    private static final long SQE_OPCODE = 0;
    private static final long SQE_FLAGS = 1;
    private static final long SQE_FD = 4;
    private static final long SQE_OFF = 8;
    private static final long SQE_ADDR = 16;
    private static final long SQE_LEN = 24;
    private static final long SQE_OP_FLAGS = 28;
    private static final long SQE_USER_DATA = 32;
    private static final long SQE_BUF_INDEX = 40;
    // linux/io_uring.h struct io_uring_cqe (16 bytes)
    private static final int CQE_SIZE = 16;
    private static final long CQE_USER_DATA = 0;
    private static final long CQE_RES = 8;
    private static final long CQE_FLAGS = 12;

    /** Plain, acquire and release access to the u32 ring indices shared with the kernel. */
    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();

    private final int fd;
    private final int setupFlags;
    private final int features;
    private final Arena mappings;
    private final MemorySegment sqRing;
    private final MemorySegment cqRing;
    private final MemorySegment sqes;
    private final int sqEntries;
    private final int sqMask;
    private final long sqHead;
    private final long sqTail;
    private final long sqFlags;
    private final int cqEntries;
    private final int cqMask;
    private final long cqHead;
    private final long cqTail;
    private final long cqes;
    /** linux/io_uring.h struct io_uring_getevents_arg (24 bytes) then a __kernel_timespec (16): for timed waits. */
    private final MemorySegment waitArgument;

    /** Our copy of the SQ tail: entries up to here are prepared, and are published at submit. */
    private int sqTailLocal;
    /** Our copy of the CQ head: the kernel may reuse entries before it once we publish it. */
    private int cqHeadLocal;

    private IoUring(int fd, int setupFlags, MemorySegment params) throws LinuxException {
        this.fd = fd;
        this.setupFlags = setupFlags;
        this.features = params.get(ValueLayout.JAVA_INT, offset(PARAMS, "features"));
        this.sqEntries = params.get(ValueLayout.JAVA_INT, offset(PARAMS, "sq_entries"));
        this.cqEntries = params.get(ValueLayout.JAVA_INT, offset(PARAMS, "cq_entries"));
        long sqOff = offset(PARAMS, "sq_off");
        long cqOff = offset(PARAMS, "cq_off");
        long sqArray = ringOffset(params, sqOff, SQRING_OFFSETS, "array");
        long cqesOff = ringOffset(params, cqOff, CQRING_OFFSETS, "cqes");
        long sqRingSize = sqArray + 4L * sqEntries;
        long cqRingSize = cqesOff + (long) CQE_SIZE * cqEntries;
        boolean singleMmap = (features & IORING_FEAT_SINGLE_MMAP) != 0;
        if (singleMmap) {
            sqRingSize = Math.max(sqRingSize, cqRingSize);
        }

        this.mappings = Arena.ofShared();
        try {
            this.sqRing = map(sqRingSize, IORING_OFF_SQ_RING);
            // Since 5.4 one mapping holds both rings; older kernels want the CQ ring mapped separately.
            this.cqRing = singleMmap ? sqRing : map(cqRingSize, IORING_OFF_CQ_RING);
            this.sqes = map((long) SQE_SIZE * sqEntries, IORING_OFF_SQES);
        } catch (LinuxException | RuntimeException e) {
            mappings.close();
            throw e;
        }
        // sq_off and cq_off hold where each field lives inside the mapped rings.
        this.sqHead = ringOffset(params, sqOff, SQRING_OFFSETS, "head");
        this.sqTail = ringOffset(params, sqOff, SQRING_OFFSETS, "tail");
        this.sqFlags = ringOffset(params, sqOff, SQRING_OFFSETS, "flags");
        this.sqMask = sqRing.get(ValueLayout.JAVA_INT, ringOffset(params, sqOff, SQRING_OFFSETS, "ring_mask"));
        this.cqHead = ringOffset(params, cqOff, CQRING_OFFSETS, "head");
        this.cqTail = ringOffset(params, cqOff, CQRING_OFFSETS, "tail");
        this.cqMask = cqRing.get(ValueLayout.JAVA_INT, ringOffset(params, cqOff, CQRING_OFFSETS, "ring_mask"));
        this.cqes = cqesOff;
        this.waitArgument = mappings.allocate(40, 8);
        waitArgument.set(ValueLayout.JAVA_LONG, 16, waitArgument.address() + 24);
        // The SQ array indirects ring slots to SQEs; an identity map, written once, lets slot i use SQE i.
        for (int i = 0; i < sqEntries; i++) {
            sqRing.setAtIndex(ValueLayout.JAVA_INT, sqArray / 4 + i, i);
        }
        this.sqTailLocal = (int) INT.getAcquire(sqRing, sqTail);
        this.cqHeadLocal = (int) INT.getAcquire(cqRing, cqHead);
    }

    private MemorySegment map(long size, long offset) throws LinuxException {
        MemorySegment mapping = Mman.mmap(size, Mman.PROT_READ | Mman.PROT_WRITE,
                Mman.MAP_SHARED | Mman.MAP_POPULATE, fd, offset);
        return mapping.reinterpret(mappings, IoUring::unmap);
    }

    private static void unmap(MemorySegment mapping) {
        try {
            Mman.munmap(mapping);
        } catch (LinuxException e) {
            throw new IllegalStateException("could not unmap an io_uring ring", e);
        }
    }

    /**
     * Creates a ring with room for {@code entries} submissions (rounded up to a power of two by
     * the kernel) and maps it. SQE128, CQE32 and NO_SQARRAY rings have other layouts and are refused.
     */
    public static IoUring open(int entries, int flags) throws LinuxException {
        if ((flags & (IORING_SETUP_SQE128 | IORING_SETUP_CQE32 | IORING_SETUP_NO_SQARRAY)) != 0) {
            throw new IllegalArgumentException("IoUring handles 64-byte SQEs, 16-byte CQEs and the SQ array only; "
                    + "flags=0x" + Integer.toHexString(flags));
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = arena.allocate(PARAMS);
            params.set(ValueLayout.JAVA_INT, offset(PARAMS, "flags"), flags);
            int fd = setup(entries, params);
            try {
                return new IoUring(fd, flags, params);
            } catch (LinuxException | RuntimeException e) {
                Unistd.close(fd);
                throw e;
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Raw calls

    /** io_uring_setup; {@code params} is a {@link #PARAMS} the kernel fills in. Returns the ring's descriptor. */
    public static int setup(int entries, MemorySegment params) throws LinuxException {
        long fd = Syscall.raw2(Syscall.IO_URING_SETUP, entries, params.address());
        if (fd < 0) {
            throw new LinuxException("io_uring_setup(entries=" + entries + ", flags=0x"
                    + Integer.toHexString(params.get(ValueLayout.JAVA_INT, offset(PARAMS, "flags"))) + ")",
                    Native.errno());
        }
        return (int) fd;
    }

    /**
     * io_uring_enter without a signal mask; returns how many SQEs the kernel consumed. EINTR is
     * retried: the kernel reports it only when it consumed nothing.
     */
    public static int enter(int ringFd, int toSubmit, int minComplete, int flags) throws LinuxException {
        while (true) {
            long result = Syscall.raw6(Syscall.IO_URING_ENTER, ringFd, toSubmit, minComplete, flags, 0, 0);
            if (result >= 0) {
                return (int) result;
            }
            int errno = Native.errno();
            if (errno != Errno.EINTR) {
                throw new LinuxException("io_uring_enter(fd=" + ringFd + ", to_submit=" + toSubmit + ", min_complete="
                        + minComplete + ", flags=0x" + Integer.toHexString(flags) + ")", errno);
            }
        }
    }

    /** io_uring_register; {@code argument} may be {@link MemorySegment#NULL}. Returns the kernel's result. */
    public static int register(int ringFd, int opcode, MemorySegment argument, int count) throws LinuxException {
        long result = Syscall.raw4(Syscall.IO_URING_REGISTER, ringFd, opcode, argument.address(), count);
        if (result < 0) {
            throw new LinuxException("io_uring_register(fd=" + ringFd + ", opcode=" + registerName(opcode)
                    + ", nr_args=" + count + ")", Native.errno());
        }
        return (int) result;
    }

    // ---------------------------------------------------------------------------------------
    // Submission

    /**
     * Fills the next SQE; returns false, touching nothing, when the submission queue is full
     * (submit, then try again). {@code address}, {@code length}, {@code offset} and
     * {@code opFlags} mean what the opcode says they mean; unused fields are zero.
     */
    public boolean prepare(int opcode, int sqeFlags, int fd, long address, int length, long offset, int opFlags,
            long userData, int bufferIndex) {
        int head = (int) INT.getAcquire(sqRing, sqHead);
        if (sqTailLocal - head >= sqEntries) {
            return false;
        }
        long sqe = (long) (sqTailLocal & sqMask) * SQE_SIZE;
        // A reused SQE keeps the previous operation's fields; the kernel would read them as ours.
        for (long at = 0; at < SQE_SIZE; at += 8) {
            sqes.set(ValueLayout.JAVA_LONG, sqe + at, 0L);
        }
        sqes.set(ValueLayout.JAVA_BYTE, sqe + SQE_OPCODE, (byte) opcode);
        sqes.set(ValueLayout.JAVA_BYTE, sqe + SQE_FLAGS, (byte) sqeFlags);
        sqes.set(ValueLayout.JAVA_INT, sqe + SQE_FD, fd);
        sqes.set(ValueLayout.JAVA_LONG, sqe + SQE_OFF, offset);
        sqes.set(ValueLayout.JAVA_LONG, sqe + SQE_ADDR, address);
        sqes.set(ValueLayout.JAVA_INT, sqe + SQE_LEN, length);
        sqes.set(ValueLayout.JAVA_INT, sqe + SQE_OP_FLAGS, opFlags);
        sqes.set(ValueLayout.JAVA_LONG, sqe + SQE_USER_DATA, userData);
        sqes.set(ValueLayout.JAVA_SHORT, sqe + SQE_BUF_INDEX, (short) bufferIndex);
        sqTailLocal++;
        return true;
    }

    /** A no-op that completes with result 0: the cheapest round trip through the ring. */
    public boolean prepareNop(long userData) {
        return prepare(IORING_OP_NOP, 0, -1, 0, 0, 0, 0, userData, 0);
    }

    /**
     * Reads into {@code buffer} from {@code fd} at {@code offset} (-1: the file position). The
     * buffer must stay valid until the completion arrives.
     */
    public boolean prepareRead(int fd, MemorySegment buffer, long offset, long userData) {
        return prepare(IORING_OP_READ, 0, fd, address(buffer), length(buffer), offset, 0, userData, 0);
    }

    /** Writes {@code buffer} to {@code fd} at {@code offset} (-1: the file position). */
    public boolean prepareWrite(int fd, MemorySegment buffer, long offset, long userData) {
        return prepare(IORING_OP_WRITE, 0, fd, address(buffer), length(buffer), offset, 0, userData, 0);
    }

    /** Reads into {@code buffer}, which must lie inside registered buffer {@code bufferIndex}. */
    public boolean prepareReadFixed(int fd, MemorySegment buffer, long offset, int bufferIndex, long userData) {
        return prepare(IORING_OP_READ_FIXED, 0, fd, address(buffer), length(buffer), offset, 0, userData,
                bufferIndex);
    }

    /** Writes {@code buffer}, which must lie inside registered buffer {@code bufferIndex}. */
    public boolean prepareWriteFixed(int fd, MemorySegment buffer, long offset, int bufferIndex, long userData) {
        return prepare(IORING_OP_WRITE_FIXED, 0, fd, address(buffer), length(buffer), offset, 0, userData,
                bufferIndex);
    }

    /** fsync, or fdatasync when {@code datasync}. */
    public boolean prepareFsync(int fd, boolean datasync, long userData) {
        return prepare(IORING_OP_FSYNC, 0, fd, 0, 0, 0, datasync ? IORING_FSYNC_DATASYNC : 0, userData, 0);
    }

    /** Publishes the prepared SQEs and tells the kernel; returns how many it consumed. */
    public int submit() throws LinuxException {
        return submitAndWait(0);
    }

    /**
     * Publishes the prepared SQEs and waits until at least {@code minComplete} completions are
     * ready; returns how many SQEs the kernel consumed.
     */
    public int submitAndWait(int minComplete) throws LinuxException {
        // Release: the kernel must see the SQE contents before it sees the tail that covers them.
        INT.setRelease(sqRing, sqTail, sqTailLocal);
        int pending = sqTailLocal - (int) INT.getAcquire(sqRing, sqHead);
        if ((setupFlags & IORING_SETUP_SQPOLL) != 0) {
            // The kernel thread consumes on its own; enter only to wake it, or to wait.
            VarHandle.fullFence();
            boolean asleep = ((int) INT.getVolatile(sqRing, sqFlags) & IORING_SQ_NEED_WAKEUP) != 0;
            int flags = (asleep ? IORING_ENTER_SQ_WAKEUP : 0) | (minComplete > 0 ? IORING_ENTER_GETEVENTS : 0);
            if (flags != 0) {
                enter(fd, pending, minComplete, flags);
            }
            return pending;
        }
        if (pending == 0 && minComplete == 0) {
            return 0;
        }
        return enter(fd, pending, minComplete, minComplete > 0 ? IORING_ENTER_GETEVENTS : 0);
    }

    /**
     * Publishes the prepared SQEs and waits until a completion is ready or {@code timeoutNanos}
     * pass (IORING_ENTER_EXT_ARG with a timeout, Linux 5.11); returns false when it timed out.
     */
    public boolean waitForCompletion(long timeoutNanos) throws LinuxException {
        if ((features & IORING_FEAT_EXT_ARG) == 0) {
            throw new UnsupportedOperationException("this kernel's io_uring has no IORING_FEAT_EXT_ARG (Linux 5.11+):"
                    + " timed waits are not possible");
        }
        INT.setRelease(sqRing, sqTail, sqTailLocal);
        int pending = sqTailLocal - (int) INT.getAcquire(sqRing, sqHead);
        waitArgument.set(ValueLayout.JAVA_LONG, 24, timeoutNanos / 1_000_000_000L);
        waitArgument.set(ValueLayout.JAVA_LONG, 32, timeoutNanos % 1_000_000_000L);
        int flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
        if (sqPolling()) {
            VarHandle.fullFence();
            if (((int) INT.getVolatile(sqRing, sqFlags) & IORING_SQ_NEED_WAKEUP) != 0) {
                flags |= IORING_ENTER_SQ_WAKEUP;
            }
        }
        while (true) {
            long result = Syscall.raw6(Syscall.IO_URING_ENTER, fd, pending, 1, flags, waitArgument.address(), 24);
            if (result >= 0) {
                return hasCompletion();
            }
            int errno = Native.errno();
            if (errno == Errno.ETIME) {
                return hasCompletion();
            }
            if (errno != Errno.EINTR) {
                throw new LinuxException("io_uring_enter(fd=" + fd + ", to_submit=" + pending
                        + ", min_complete=1, flags=GETEVENTS|EXT_ARG, timeout=" + timeoutNanos + "ns)", errno);
            }
            pending = 0;
        }
    }

    /** Whether a completion is waiting to be taken. */
    public boolean hasCompletion() {
        return cqHeadLocal != (int) INT.getAcquire(cqRing, cqTail);
    }

    /** Whether the ring was set up with a kernel submission-polling thread. */
    public boolean sqPolling() {
        return (setupFlags & IORING_SETUP_SQPOLL) != 0;
    }

    // ---------------------------------------------------------------------------------------
    // Completion

    /**
     * One CQE.
     *
     * @param result the operation's return value: bytes transferred, or {@code -errno}
     */
    public record Completion(long userData, int result, int flags) {
        @Override
        public String toString() {
            return "Completion[userData=" + userData + ", result=" + result
                    + (result < 0 ? " (" + Errno.name(-result) + ")" : "") + ", flags=0x" + Integer.toHexString(flags)
                    + "]";
        }
    }

    /** Receives completions from {@link #drainCompletions} without allocating. */
    @FunctionalInterface
    public interface CompletionHandler {
        void onCompletion(long userData, int result, int flags);
    }

    /** Takes the oldest completion off the queue, or returns null when there is none. */
    public Completion peekCompletion() {
        // Acquire: the CQE's contents are only ours once we have seen the tail that covers them.
        int tail = (int) INT.getAcquire(cqRing, cqTail);
        if (cqHeadLocal == tail) {
            return null;
        }
        long cqe = cqes + (long) (cqHeadLocal & cqMask) * CQE_SIZE;
        Completion completion = new Completion(cqRing.get(ValueLayout.JAVA_LONG, cqe + CQE_USER_DATA),
                cqRing.get(ValueLayout.JAVA_INT, cqe + CQE_RES), cqRing.get(ValueLayout.JAVA_INT, cqe + CQE_FLAGS));
        cqHeadLocal++;
        // Release: we are done reading the CQE before the kernel may overwrite it.
        INT.setRelease(cqRing, cqHead, cqHeadLocal);
        return completion;
    }

    /** Passes every ready completion to {@code handler}; returns how many there were. */
    public int drainCompletions(CompletionHandler handler) {
        int tail = (int) INT.getAcquire(cqRing, cqTail);
        int count = 0;
        try {
            while (cqHeadLocal != tail) {
                long cqe = cqes + (long) (cqHeadLocal & cqMask) * CQE_SIZE;
                long userData = cqRing.get(ValueLayout.JAVA_LONG, cqe + CQE_USER_DATA);
                int result = cqRing.get(ValueLayout.JAVA_INT, cqe + CQE_RES);
                int flags = cqRing.get(ValueLayout.JAVA_INT, cqe + CQE_FLAGS);
                cqHeadLocal++;
                count++;
                handler.onCompletion(userData, result, flags);
            }
        } finally {
            INT.setRelease(cqRing, cqHead, cqHeadLocal);
        }
        return count;
    }

    /** Submits whatever is prepared and blocks until a completion is ready; takes it. */
    public Completion awaitCompletion() throws LinuxException {
        Completion completion;
        while ((completion = peekCompletion()) == null) {
            submitAndWait(1);
        }
        return completion;
    }

    // ---------------------------------------------------------------------------------------
    // Registration

    /**
     * Registers {@code buffers} for READ_FIXED/WRITE_FIXED, pinning their pages once instead of
     * per operation. They must stay mapped until {@link #unregisterBuffers} or close.
     */
    public void registerBuffers(MemorySegment... buffers) throws LinuxException {
        ensureOpen();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment iovecs = arena.allocate(Sockets.IOVEC, buffers.length);
            for (int i = 0; i < buffers.length; i++) {
                long at = i * Sockets.IOVEC.byteSize();
                iovecs.set(ValueLayout.JAVA_LONG, at, address(buffers[i]));
                iovecs.set(ValueLayout.JAVA_LONG, at + 8, buffers[i].byteSize());
            }
            register(fd, IORING_REGISTER_BUFFERS, iovecs, buffers.length);
        }
    }

    public void unregisterBuffers() throws LinuxException {
        ensureOpen();
        register(fd, IORING_UNREGISTER_BUFFERS, MemorySegment.NULL, 0);
    }

    /**
     * Registers {@code fds}; an SQE with {@link #IOSQE_FIXED_FILE} then names a file by its index
     * here, which saves the kernel a descriptor-table lookup and reference count per operation.
     */
    public void registerFiles(int... fds) throws LinuxException {
        ensureOpen();
        try (Arena arena = Arena.ofConfined()) {
            register(fd, IORING_REGISTER_FILES, arena.allocateFrom(ValueLayout.JAVA_INT, fds), fds.length);
        }
    }

    public void unregisterFiles() throws LinuxException {
        ensureOpen();
        register(fd, IORING_UNREGISTER_FILES, MemorySegment.NULL, 0);
    }

    // ---------------------------------------------------------------------------------------

    public int fd() {
        return fd;
    }

    public int submissionEntries() {
        return sqEntries;
    }

    public int completionEntries() {
        return cqEntries;
    }

    /** The IORING_FEAT_* bits the kernel reported. */
    public int features() {
        return features;
    }

    /** Unmaps the rings and closes the descriptor; the kernel cancels what is still in flight. */
    @Override
    public void close() throws LinuxException {
        if (!mappings.scope().isAlive()) {
            return;
        }
        mappings.close();
        Unistd.close(fd);
    }

    /** Registration goes by descriptor number, which after close may already name another file. */
    private void ensureOpen() {
        if (!mappings.scope().isAlive()) {
            throw new IllegalStateException("io_uring fd=" + fd + " is closed");
        }
    }

    private static long address(MemorySegment buffer) {
        if (!buffer.isNative()) {
            throw new IllegalArgumentException("io_uring buffers must be native memory: the kernel gets their address");
        }
        return buffer.address();
    }

    /** The kernel caps one read or write at MAX_RW_COUNT anyway; longer buffers are partly used. */
    private static int length(MemorySegment buffer) {
        return (int) Math.min(buffer.byteSize(), Integer.MAX_VALUE);
    }

    /** The u32 that io_uring_params.sq_off/cq_off holds for {@code field}. */
    private static long ringOffset(MemorySegment params, long offsets, StructLayout layout, String field) {
        return Integer.toUnsignedLong(params.get(ValueLayout.JAVA_INT, offsets + offset(layout, field)));
    }

    private static long offset(StructLayout layout, String field) {
        return layout.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }

    private static String registerName(int opcode) {
        return switch (opcode) {
            case IORING_REGISTER_BUFFERS -> "IORING_REGISTER_BUFFERS";
            case IORING_UNREGISTER_BUFFERS -> "IORING_UNREGISTER_BUFFERS";
            case IORING_REGISTER_FILES -> "IORING_REGISTER_FILES";
            case IORING_UNREGISTER_FILES -> "IORING_UNREGISTER_FILES";
            default -> String.valueOf(opcode);
        };
    }
}
