package io.arrakis.provider;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.Pipe;
import java.nio.channels.SelectableChannel;
import java.util.Objects;

/**
 * A {@link Pipe} whose ends are ours, so they register with our {@link ArrakisSelector} next to
 * user-level channels: each end wraps the JDK's own pipe end (a kernel pipe) and delegates every
 * call to it; our selector waits on the wrapped end through its inner JDK selector. A pipe stays
 * in the kernel: it is a local wake-up and hand-off device, with nothing a user-level stack could
 * do faster for it. Thread-safe as the JDK's ends are; our side adds no state but the close.
 */
final class ArrakisPipe extends Pipe {
    private final Source source;
    private final Sink sink;

    ArrakisPipe(ArrakisSelectorProvider provider, Pipe kernelPipe) {
        this.source = new Source(provider, kernelPipe.source());
        this.sink = new Sink(provider, kernelPipe.sink());
    }

    @Override
    public SourceChannel source() {
        return source;
    }

    @Override
    public SinkChannel sink() {
        return sink;
    }

    /** A call on the wrapped end that closed it (interrupt, asynchronous close) closes ours too, as one channel would be. */
    private static <T> T delegate(java.nio.channels.Channel ours, KernelCall<T> call) throws IOException {
        try {
            return call.run();
        } catch (AsynchronousCloseException e) {
            ours.close();
            throw e;
        }
    }

    /** A pipe end: only ever the JDK's pipe underneath, never the user-level stack. */
    private interface KernelOnly extends RoutedChannel {
        @Override
        default boolean hasUserSide() {
            return false;
        }

        @Override
        default UserStack userStack() {
            return null;
        }

        @Override
        default int readyOps(int interest) {
            return 0;
        }
    }

    interface KernelCall<T> {
        T run() throws IOException;
    }

    /** The readable end. */
    static final class Source extends SourceChannel implements KernelOnly {
        private final SourceChannel kernel;
        private final Readiness readiness = new Readiness();

        Source(ArrakisSelectorProvider provider, SourceChannel kernel) {
            super(provider);
            this.kernel = kernel;
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            Objects.requireNonNull(dst);
            return delegate(this, () -> kernel.read(dst));
        }

        @Override
        public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
            Objects.checkFromIndexSize(offset, length, dsts.length);
            return delegate(this, () -> kernel.read(dsts, offset, length));
        }

        @Override
        public long read(ByteBuffer[] dsts) throws IOException {
            return read(dsts, 0, dsts.length);
        }

        @Override
        protected void implConfigureBlocking(boolean block) throws IOException {
            kernel.configureBlocking(block);
        }

        @Override
        protected void implCloseSelectableChannel() throws IOException {
            kernel.close();
        }

        @Override
        public SelectableChannel kernelChannel() {
            return kernel;
        }

        @Override
        public Readiness readiness() {
            return readiness;
        }

        @Override
        public String toString() {
            return "ArrakisPipe.Source[" + (isOpen() ? kernel : "closed") + "]";
        }
    }

    /** The writable end. */
    static final class Sink extends SinkChannel implements KernelOnly {
        private final SinkChannel kernel;
        private final Readiness readiness = new Readiness();

        Sink(ArrakisSelectorProvider provider, SinkChannel kernel) {
            super(provider);
            this.kernel = kernel;
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            Objects.requireNonNull(src);
            return delegate(this, () -> kernel.write(src));
        }

        @Override
        public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
            Objects.checkFromIndexSize(offset, length, srcs.length);
            return delegate(this, () -> kernel.write(srcs, offset, length));
        }

        @Override
        public long write(ByteBuffer[] srcs) throws IOException {
            return write(srcs, 0, srcs.length);
        }

        @Override
        protected void implConfigureBlocking(boolean block) throws IOException {
            kernel.configureBlocking(block);
        }

        @Override
        protected void implCloseSelectableChannel() throws IOException {
            kernel.close();
        }

        @Override
        public SelectableChannel kernelChannel() {
            return kernel;
        }

        @Override
        public Readiness readiness() {
            return readiness;
        }

        @Override
        public String toString() {
            return "ArrakisPipe.Sink[" + (isOpen() ? kernel : "closed") + "]";
        }
    }
}
