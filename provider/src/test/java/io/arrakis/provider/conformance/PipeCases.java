package io.arrakis.provider.conformance;

import static io.arrakis.provider.conformance.SocketChannelCases.bytes;

import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.Arrays;
import java.util.List;

/** Pipe: the source and sink channels, end of stream, a full pipe, a closed reader. */
final class PipeCases {
    private PipeCases() {
    }

    /** A pipe whose two ends are closed when the case ends. */
    static Pipe open(Resources r, Network net) throws Exception {
        Pipe pipe = net.provider().openPipe();
        r.add(pipe.source());
        r.add(pipe.sink());
        return pipe;
    }

    /** Writes non-blocking until the pipe stays full (twenty zero-length writes in a row); returns the bytes written. */
    static long fill(Pipe.SinkChannel sink) throws Exception {
        sink.configureBlocking(false);
        ByteBuffer chunk = ByteBuffer.allocate(16 * 1024);
        long written = 0;
        int zeros = 0;
        long deadline = System.nanoTime() + Await.LIMIT.toNanos();
        while (zeros < 20) {
            chunk.clear();
            int n = sink.write(chunk);
            written += n;
            zeros = n == 0 ? zeros + 1 : 0;
            if (System.nanoTime() > deadline) {
                throw new java.util.concurrent.TimeoutException("the pipe did not fill within " + Await.LIMIT);
            }
        }
        return written;
    }

    static List<Case> cases() {
        Catalog c = new Catalog("Pipe");

        c.add("newPipeEndsAreOpenBlockingAndOfTheNetworksProvider", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = open(r, net);
                t.state("source", pipe.source());
                t.state("sink", pipe.sink());
                t.note("source validOps", Trace.ops(pipe.source().validOps()));
                t.note("sink validOps", Trace.ops(pipe.sink().validOps()));
                t.note("pipe.source() is stable", pipe.source() == pipe.source());
                t.note("providers are the network's", pipe.source().provider() == net.provider() && pipe.sink().provider() == net.provider());
            }
        }, "source: open=true blocking=true registered=false", "sink: open=true blocking=true registered=false",
                "source validOps = READ", "sink validOps = WRITE", "pipe.source() is stable = true", "providers are the network's = true");

        c.add("bytesWrittenToTheSinkAreReadFromTheSource", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = open(r, net);
                t.call("write", () -> pipe.sink().write(ByteBuffer.wrap(bytes(100))));
                t.note("read back", Arrays.equals(TcpPair.readFully(pipe.source(), 100), bytes(100)));
            }
        }, "write -> 100", "read back = true");

        c.add("sourceReadsEndOfStreamAfterTheSinkCloses", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = open(r, net);
                pipe.sink().write(ByteBuffer.wrap(bytes(3)));
                pipe.sink().close();
                t.note("data still arrives", Arrays.equals(TcpPair.readFully(pipe.source(), 3), bytes(3)));
                t.call("then", () -> pipe.source().read(ByteBuffer.allocate(4)));
                t.call("and again", () -> pipe.source().read(ByteBuffer.allocate(4)));
            }
        }, "data still arrives = true", "then -> -1", "and again -> -1");

        c.add("writeAfterTheSourceClosesThrowsBrokenPipe", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = open(r, net);
                pipe.source().close();
                t.call("write", () -> pipe.sink().write(ByteBuffer.wrap(bytes(3))));
                t.state("sink", pipe.sink());
            }
        }, "write -> threw IOException: Broken pipe", "sink: open=true blocking=true registered=false");

        c.add("nonBlockingReadOfAnEmptyPipeReturnsZero", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = open(r, net);
                pipe.source().configureBlocking(false);
                t.call("read", () -> pipe.source().read(ByteBuffer.allocate(4)));
            }
        }, "read -> 0");

        c.add("nonBlockingWriteToAFullPipeReturnsZero", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = open(r, net);
                long written = fill(pipe.sink());
                t.note("the pipe took some bytes", written > 0);
                t.call("one more byte", () -> pipe.sink().write(ByteBuffer.wrap(new byte[] {1})));
                pipe.source().read(ByteBuffer.allocate(64 * 1024));
                t.call("after the reader drains some", () -> pipe.sink().write(ByteBuffer.wrap(new byte[] {1})));
            }
        }, "the pipe took some bytes = true", "one more byte -> 0", "after the reader drains some -> 1");

        c.add("closedPipeEndsThrowClosedChannel", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = open(r, net);
                pipe.source().close();
                pipe.sink().close();
                t.call("read", () -> pipe.source().read(ByteBuffer.allocate(4)));
                t.call("write", () -> pipe.sink().write(ByteBuffer.allocate(4)));
                t.call("scattering read", () -> pipe.source().read(new ByteBuffer[] {ByteBuffer.allocate(4)}));
                t.call("gathering write", () -> pipe.sink().write(new ByteBuffer[] {ByteBuffer.allocate(4)}));
                t.call("configureBlocking", () -> pipe.source().configureBlocking(false));
            }
        }, "read -> threw ClosedChannelException", "write -> threw ClosedChannelException",
                "scattering read -> threw ClosedChannelException", "gathering write -> threw ClosedChannelException",
                "configureBlocking -> threw ClosedChannelException");

        c.add("pipeScattersAndGathers", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = open(r, net);
                t.call("gathering write", () -> pipe.sink().write(new ByteBuffer[] {ByteBuffer.wrap(bytes(4)), ByteBuffer.wrap(bytes(6))}));
                ByteBuffer[] into = {ByteBuffer.allocate(5), ByteBuffer.allocate(5)};
                t.call("scattering read", () -> {
                    long total = 0;
                    while (total < 10) {
                        total += pipe.source().read(into);
                    }
                    return total;
                });
                t.note("buffers", List.of(into));
            }
        }, "gathering write -> 10", "scattering read -> 10", "buffers = [ByteBuffer[pos=5 lim=5 cap=5], ByteBuffer[pos=5 lim=5 cap=5]]");

        c.add("zeroLengthPipeReadsAndWritesReturnZero", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = open(r, net);
                t.call("write nothing", () -> pipe.sink().write(ByteBuffer.allocate(0)));
                t.call("read into nothing", () -> pipe.source().read(ByteBuffer.allocate(0)));
            }
        }, "write nothing -> 0", "read into nothing -> 0");

        c.add("pipeReadIntoReadOnlyBufferThrowsIllegalArgument", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = open(r, net);
                t.call("read", () -> pipe.source().read(ByteBuffer.allocate(4).asReadOnlyBuffer()));
            }
        }, "read -> threw IllegalArgumentException: Read-only buffer");

        c.add("pipeEndsAreSelectable", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = open(r, net);
                Selector selector = r.add(net.provider().openSelector());
                pipe.source().configureBlocking(false);
                pipe.sink().configureBlocking(false);
                SelectionKey readKey = pipe.source().register(selector, SelectionKey.OP_READ);
                SelectionKey writeKey = pipe.sink().register(selector, SelectionKey.OP_WRITE);
                t.call("selectNow with an empty pipe", selector::selectNow);
                t.key("sink key", writeKey);
                t.note("selected the sink only", selector.selectedKeys().equals(java.util.Set.of(writeKey)));
                selector.selectedKeys().clear();
                writeKey.interestOps(0);
                pipe.sink().write(ByteBuffer.wrap(bytes(1)));
                t.call("select after a write", () -> selector.select(Await.LIMIT.toMillis()));
                t.key("source key", readKey);
            }
        }, "selectNow with an empty pipe -> 1", "sink key: valid interest=WRITE ready=WRITE", "selected the sink only = true",
                "select after a write -> 1", "source key: valid interest=READ ready=READ");

        c.add("interruptStatusBeforeBlockingPipeReadClosesTheSource", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = open(r, net);
                Thread.currentThread().interrupt();
                t.call("read", () -> pipe.source().read(ByteBuffer.allocate(4)));
                t.note("interrupt status kept", Thread.interrupted());
                t.state("source", pipe.source());
                t.state("sink", pipe.sink());
            }
        }, "read -> threw ClosedByInterruptException", "interrupt status kept = true",
                "source: open=false blocking=true registered=false", "sink: open=true blocking=true registered=false");

        c.add("sourceReadableAtEndOfStream", (net, t) -> {
            try (Resources r = new Resources()) {
                Pipe pipe = open(r, net);
                Selector selector = r.add(net.provider().openSelector());
                pipe.source().configureBlocking(false);
                SelectionKey key = pipe.source().register(selector, SelectionKey.OP_READ);
                pipe.sink().close();
                t.call("select", () -> selector.select(Await.LIMIT.toMillis()));
                t.key("source key", key);
                t.call("read", () -> pipe.source().read(ByteBuffer.allocate(4)));
            }
        }, "select -> 1", "source key: valid interest=READ ready=READ", "read -> -1");

        return c.cases();
    }
}
