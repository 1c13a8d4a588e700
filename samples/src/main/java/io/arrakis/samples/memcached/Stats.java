package io.arrakis.samples.memcached;

import java.util.concurrent.atomic.LongAdder;

/** Server-wide counters for "stats", updated by every worker. Thread-safe (striped adders). */
final class Stats {
    final LongAdder currConnections = new LongAdder();
    final LongAdder totalConnections = new LongAdder();
    final LongAdder cmdGet = new LongAdder();
    final LongAdder cmdSet = new LongAdder();
    final LongAdder cmdFlush = new LongAdder();
    final LongAdder cmdTouch = new LongAdder();
    final LongAdder getHits = new LongAdder();
    final LongAdder getMisses = new LongAdder();
    final LongAdder deleteHits = new LongAdder();
    final LongAdder deleteMisses = new LongAdder();
    final LongAdder incrHits = new LongAdder();
    final LongAdder incrMisses = new LongAdder();
    final LongAdder decrHits = new LongAdder();
    final LongAdder decrMisses = new LongAdder();
    final LongAdder casHits = new LongAdder();
    final LongAdder casMisses = new LongAdder();
    final LongAdder casBadval = new LongAdder();
    final LongAdder touchHits = new LongAdder();
    final LongAdder touchMisses = new LongAdder();
    final LongAdder storeTooLarge = new LongAdder();
    final LongAdder storeNoMemory = new LongAdder();
    final LongAdder bytesRead = new LongAdder();
    final LongAdder bytesWritten = new LongAdder();

    void reset() {
        for (LongAdder adder : new LongAdder[] {totalConnections, cmdGet, cmdSet, cmdFlush, cmdTouch, getHits,
                getMisses, deleteHits, deleteMisses, incrHits, incrMisses, decrHits, decrMisses, casHits, casMisses,
                casBadval, touchHits, touchMisses, storeTooLarge, storeNoMemory, bytesRead, bytesWritten}) {
            adder.reset();
        }
    }
}
