package io.arrakis.storage;

import io.arrakis.device.Vsic;
import java.io.IOException;
import java.util.Objects;

/**
 * A VSIC over a real one that forwards its identity, geometry and close, for the tests' fault
 * injectors: a subclass gives out its own wrappers of the inner queues. Thread-safety is the
 * inner VSIC's.
 */
public abstract class ForwardingVsic implements Vsic {
    protected final Vsic inner;

    protected ForwardingVsic(Vsic inner) {
        this.inner = Objects.requireNonNull(inner, "inner VSIC");
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public String backend() {
        return inner.backend();
    }

    @Override
    public int blockSize() {
        return inner.blockSize();
    }

    @Override
    public long capacityBlocks() {
        return inner.capacityBlocks();
    }

    @Override
    public boolean hasVolatileWriteCache() {
        return inner.hasVolatileWriteCache();
    }

    @Override
    public int queueCount() {
        return inner.queueCount();
    }

    /** Closes the inner VSIC, which drains what the device still has in flight. */
    @Override
    public void close() throws IOException {
        inner.close();
    }
}
