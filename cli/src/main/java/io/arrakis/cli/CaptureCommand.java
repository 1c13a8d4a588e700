package io.arrakis.cli;

import io.arrakis.control.ControlStatus;
import io.arrakis.control.stats.StatsFile;
import io.arrakis.control.stats.StatsReader;
import java.io.BufferedOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * {@code arrakis capture <vnic> -w FILE|-}: live capture of the frames a process's user-level
 * stack sends and receives on its VNIC, as pcap (nanosecond timestamps, Ethernet) to a file or
 * standard output ({@code arrakis capture jvm42 -w - | tshark -r -}). The process mirrors frames
 * into its stats file's capture ring only while a capture runs (the tool asks by writing one word
 * there, and the process stops on its own if the tool dies); this command drains the ring every
 * millisecond. Ends after {@code --count} frames, {@code --duration} seconds, on Ctrl-C, when the
 * reader of standard output goes away, or when the process exits. Stateless between runs.
 */
final class CaptureCommand implements Command {
    private static final int PCAP_MAGIC_NANOS = 0xa1b23c4d;
    private static final int LINKTYPE_ETHERNET = 1;
    private static final int SNAPLEN = 65_535;
    private static final long LIVENESS_CHECK_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    @Override
    public String name() {
        return "capture";
    }

    @Override
    public String summary() {
        return "live capture of a VNIC's frames to a pcap file or stdout (arrakis capture <vnic> -w - | tshark -r -)";
    }

    @Override
    public String usage() {
        return "<vnic> -w FILE|- [--count FRAMES] [--duration SECONDS] [--socket PATH]";
    }

    @Override
    public int run(List<String> words, Console console) throws Exception {
        List<String> normalized = new ArrayList<>();
        for (String word : words) {
            normalized.add(switch (word) {
                case "-w" -> "--write";
                case "-c" -> "--count";
                default -> word;
            });
        }
        Arguments arguments = Arguments.parse(normalized,
                Set.of(ControlCommands.SOCKET, "--write", "--count", "--duration"), Set.of()).expectPositional(1, 1);
        String target = arguments.value("--write", null);
        if (target == null) {
            throw new UsageException("-w FILE (or -w - for standard output) is required: the capture is pcap");
        }
        long maxFrames = positive(arguments.value("--count", null), "--count", Long.MAX_VALUE);
        long durationNanos = arguments.value("--duration", null) == null ? Long.MAX_VALUE
                : seconds(arguments.value("--duration", null));
        Path socket = ControlCommands.socket(arguments);
        String vnic = arguments.positional().getFirst();
        ControlStatus status = OpsCommands.status(socket);
        ControlStatus.VnicStatus owner = OpsCommands.requireVnic(status, socket, vnic);
        Path file = StatsFile.path(socket, vnic);
        StatsReader reader;
        try {
            reader = StatsReader.openForCapture(file);
        } catch (NoSuchFileException e) {
            throw new IOException("VNIC " + vnic + " (pid " + owner.pid() + ") publishes no stats file at " + file
                    + ", so it cannot be captured (no user-level stack in that process, or another user's)");
        }
        try (reader) {
            return capture(reader, vnic, owner.pid(), file, target, maxFrames, durationNanos, console);
        }
    }

    private static int capture(StatsReader reader, String vnic, int pid, Path file, String target, long maxFrames,
            long durationNanos, Console console) throws Exception {
        boolean toStdout = target.equals("-");
        OutputStream out = toStdout ? console.out() : new BufferedOutputStream(new FileOutputStream(target), 1 << 16);
        long[] written = new long[1];
        ByteBuffer record = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        byte[] frameBytes = new byte[SNAPLEN];
        Thread main = Thread.currentThread();
        java.util.concurrent.CountDownLatch finished = new java.util.concurrent.CountDownLatch(1);
        Thread hook = Thread.ofPlatform().unstarted(() -> {
            // Ctrl-C: stop the loop and let it end the capture (the process stops mirroring) and
            // flush what it wrote.
            main.interrupt();
            try {
                finished.await(2, TimeUnit.SECONDS);
            } catch (InterruptedException ignored) {
                // exiting anyway
            }
        });
        Runtime.getRuntime().addShutdownHook(hook);
        StatsReader.Capture capture = reader.startCapture();
        String ended = "stopped";
        try {
            writeHeader(out);
            out.flush();
            long start = System.nanoTime();
            long nextLivenessCheck = start + LIVENESS_CHECK_NANOS;
            while (true) {
                int frames = capture.drain((epochNanos, frame, length) -> {
                    if (written[0] >= maxFrames) {
                        return;
                    }
                    int captured = (int) frame.byteSize();
                    record.clear();
                    record.putInt((int) (epochNanos / 1_000_000_000L)).putInt((int) (epochNanos % 1_000_000_000L))
                            .putInt(captured).putInt(length);
                    out.write(record.array(), 0, 16);
                    MemorySegment.copy(frame, ValueLayout.JAVA_BYTE, 0, frameBytes, 0, captured);
                    out.write(frameBytes, 0, captured);
                    written[0]++;
                });
                if (frames > 0) {
                    out.flush();
                    if (toStdout && console.out().checkError()) {
                        ended = "its reader closed standard output";
                        break;
                    }
                }
                if (written[0] >= maxFrames) {
                    ended = "--count reached";
                    break;
                }
                long now = System.nanoTime();
                if (now - start >= durationNanos) {
                    ended = "--duration reached";
                    break;
                }
                if (Thread.interrupted()) {
                    break;
                }
                if (now - nextLivenessCheck >= 0) {
                    nextLivenessCheck = now + LIVENESS_CHECK_NANOS;
                    if (!Files.exists(file) || ProcessHandle.of(pid).isEmpty()) {
                        ended = "the process (pid " + pid + ") went away";
                        capture.drain((epochNanos, frame, length) -> { });
                        break;
                    }
                }
                if (frames == 0) {
                    LockSupport.parkNanos(1_000_000);
                }
            }
        } finally {
            capture.close();
            try {
                out.flush();
            } finally {
                finished.countDown();
                if (!toStdout) {
                    out.close();
                }
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // the hook is what is running us down
                }
            }
        }
        PrintStream err = console.err();
        err.println("arrakis capture: " + written[0] + " frames of VNIC " + vnic + " (" + ended + ")"
                + (capture.dropped() > 0 ? "; " + capture.dropped() + " frames dropped by the process: the"
                + " capture ring was full (this command fell behind)" : ""));
        return 0;
    }

    private static void writeHeader(OutputStream out) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
        header.putInt(PCAP_MAGIC_NANOS).putShort((short) 2).putShort((short) 4).putInt(0).putInt(0).putInt(SNAPLEN)
                .putInt(LINKTYPE_ETHERNET);
        out.write(header.array());
    }

    private static long positive(String text, String option, long orElse) throws UsageException {
        if (text == null) {
            return orElse;
        }
        try {
            long value = Long.parseLong(text);
            if (value > 0) {
                return value;
            }
        } catch (NumberFormatException e) {
            // fall through
        }
        throw new UsageException(option + " takes a positive whole number, not '" + text + "'");
    }

    private static long seconds(String text) throws UsageException {
        try {
            double seconds = Double.parseDouble(text);
            if (seconds > 0 && seconds <= 86_400) {
                return (long) (seconds * 1e9);
            }
        } catch (NumberFormatException e) {
            // fall through
        }
        throw new UsageException("--duration takes seconds (0 < s <= 86400), not '" + text + "'");
    }
}
