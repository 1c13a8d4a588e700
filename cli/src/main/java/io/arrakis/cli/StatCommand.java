package io.arrakis.cli;

import io.arrakis.control.ControlStatus;
import io.arrakis.control.stats.StackStats;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code arrakis stat}: counters per VNIC and per queue (from the control plane, which reads the
 * queues' shared counter pages) and per stack (from each process's stats file: spins, epoll
 * sleeps, TCP segments and retransmissions). Doorbells are the wake-ups a queue's sends cost
 * (a futex wake of a sleeping receiver, {@code DOORBELLS_RUNG}, or a write of its readiness
 * eventfd, the shm backend's {@code READINESS_SIGNALS}). Once, as totals; or with {@code --interval} like
 * {@code vmstat}: a line per queue per interval, rates per second over that interval, drops named
 * by reason when there were any. Stateless between runs.
 */
final class StatCommand implements Command {
    /** Counters that are frames dropped, one reason each (the shm checks refine RX_DROPPED_*). */
    static final List<String> DROP_REASONS = List.of("RX_DROPPED_NO_BUFFER", "RX_DROPPED_FILTERED",
            "RX_DROPPED_MALFORMED", "TX_DROPPED_FILTERED", "TX_NO_PEER", "RX_SPOOFED", "RX_BAD_DESCRIPTOR",
            "RX_NOT_FOR_US", "RX_MISSTEERED", "RX_POLICED", "TX_CHANNEL_FULL");
    /** Those whose sum is the "drops" column (the rest refine these, or are TX_RING_FULL's own column). */
    private static final List<String> DROPS_COUNTED = List.of("RX_DROPPED_NO_BUFFER", "RX_DROPPED_FILTERED",
            "RX_DROPPED_MALFORMED", "TX_DROPPED_FILTERED", "TX_NO_PEER");
    private static final int HEADER_EVERY = 20;

    @Override
    public String name() {
        return "stat";
    }

    @Override
    public String summary() {
        return "counters per VNIC and queue (packets, bytes, drops by reason, ring full, doorbells, spins) and per"
                + " VSA in use (reads, writes, flushes, bytes, errors); --interval S repeats like vmstat";
    }

    @Override
    public String usage() {
        return "[vnic|vsa...] [--interval SECONDS [--count N]] [--socket PATH] [--json]";
    }

    @Override
    public int run(List<String> words, Console console) throws Exception {
        Arguments arguments = Arguments.parse(words, Set.of(ControlCommands.SOCKET, "--interval", "--count"),
                Set.of("--json"));
        Path socket = ControlCommands.socket(arguments);
        boolean json = arguments.flag("--json");
        String intervalText = arguments.value("--interval", null);
        String countText = arguments.value("--count", null);
        if (intervalText == null) {
            if (countText != null) {
                throw new UsageException("--count needs --interval");
            }
            ControlStatus status = OpsCommands.status(socket);
            List<OpsCommands.Attached> attached = OpsCommands.attached(status, socket,
                    OpsCommands.vnicNames(status, arguments.positional()));
            List<OpsCommands.MountedVsa> vsas = OpsCommands.mountedVsas(status, socket, arguments.positional());
            if (vsaOnly(status, arguments.positional())) {
                attached = List.of();
            }
            console.out().println(json ? totalsJson(attached, vsas) : totalsText(attached, vsas));
            return 0;
        }
        long intervalMillis = parseInterval(intervalText);
        long count = countText == null ? Long.MAX_VALUE : parseCount(countText);
        Map<String, Map<String, Long>> previous = sample(socket, arguments.positional());
        long lines = 0;
        for (long report = 0; report < count; report++) {
            Thread.sleep(intervalMillis);
            ControlStatus status = OpsCommands.status(socket);
            List<OpsCommands.Attached> attached = OpsCommands.attached(status, socket,
                    OpsCommands.vnicNames(status, arguments.positional()));
            if (vsaOnly(status, arguments.positional())) {
                attached = List.of();
            }
            List<OpsCommands.MountedVsa> vsas = OpsCommands.mountedVsas(status, socket, arguments.positional());
            Map<String, Map<String, Long>> now = sample(attached, vsas);
            if (json) {
                console.out().println(intervalJson(attached, vsas, previous, now, intervalMillis));
            } else {
                lines = intervalText(console.out(), attached, previous, now, intervalMillis, lines);
                lines = vsaIntervalText(console.out(), vsas, previous, now, intervalMillis, lines,
                        !attached.isEmpty());
            }
            console.out().flush();
            previous = now;
        }
        return 0;
    }

    private static long parseInterval(String text) throws UsageException {
        double seconds;
        try {
            seconds = Double.parseDouble(text);
        } catch (NumberFormatException e) {
            throw new UsageException("--interval takes seconds (1, 0.5), not '" + text + "'");
        }
        if (!(seconds >= 0.05 && seconds <= 3600)) {
            throw new UsageException("--interval must be between 0.05 and 3600 seconds, not " + text);
        }
        return Math.round(seconds * 1000);
    }

    private static long parseCount(String text) throws UsageException {
        try {
            long count = Long.parseLong(text);
            if (count > 0) {
                return count;
            }
        } catch (NumberFormatException e) {
            // fall through to the message
        }
        throw new UsageException("--count takes a positive number of reports, not '" + text + "'");
    }

    /** Names given, all of them VSAs': show no VNIC. */
    private static boolean vsaOnly(ControlStatus status, List<String> names) {
        return !names.isEmpty() && OpsCommands.vnicNames(status, names).isEmpty();
    }

    /**
     * Every counter, keyed "vnic/queue" (queue counters), "vnic/stack" (the stats file's) and
     * "vsa@name" (a VSA's stats file's).
     */
    private static Map<String, Map<String, Long>> sample(Path socket, List<String> names) throws Exception {
        ControlStatus status = OpsCommands.status(socket);
        return sample(vsaOnly(status, names) ? List.of() : OpsCommands.attached(status, socket,
                OpsCommands.vnicNames(status, names)), OpsCommands.mountedVsas(status, socket, names));
    }

    private static Map<String, Map<String, Long>> sample(List<OpsCommands.Attached> attached,
            List<OpsCommands.MountedVsa> vsas) {
        Map<String, Map<String, Long>> sample = new HashMap<>();
        for (OpsCommands.MountedVsa v : vsas) {
            if (v.stats() != null) {
                sample.put(vsaKey(v), v.stats().counters());
            }
        }
        for (OpsCommands.Attached a : attached) {
            for (ControlStatus.QueueStatus q : a.vnic().queues()) {
                sample.put(a.vnic().name() + "/" + q.index(), q.counters());
            }
            if (a.stats() != null) {
                sample.put(a.vnic().name() + "/stack", a.stats().counters());
            }
        }
        return sample;
    }

    private static long delta(Map<String, Map<String, Long>> before, Map<String, Map<String, Long>> after,
            String key, String counter) {
        long now = after.getOrDefault(key, Map.of()).getOrDefault(counter, 0L);
        long then = before.getOrDefault(key, Map.of()).getOrDefault(counter, 0L);
        return Math.max(0, now - then); // a VNIC that came or went starts from zero
    }

    /** A VSA's sample key: its name and holder, so a new holder's counters start from zero. */
    private static String vsaKey(OpsCommands.MountedVsa v) {
        return "vsa@" + v.vsa().name() + "/" + v.vsa().pid();
    }

    /**
     * A line per VSA in use with its rates over the interval, under a header of its own: each
     * report when VNIC lines come before (their header is another), else every 20 lines.
     */
    private static long vsaIntervalText(PrintStream out, List<OpsCommands.MountedVsa> vsas,
            Map<String, Map<String, Long>> before, Map<String, Map<String, Long>> after, long intervalMillis,
            long lines, boolean afterVnics) {
        double perSecond = 1000.0 / intervalMillis;
        boolean header = afterVnics || lines % HEADER_EVERY == 0;
        for (OpsCommands.MountedVsa v : vsas) {
            if (v.stats() == null) {
                continue;
            }
            if (header) {
                out.printf("%-16s %9s %9s %9s %11s %11s %7s%n", "vsa", "reads/s", "writes/s", "flush/s", "read B/s",
                        "write B/s", "err/s");
                lines = afterVnics ? lines : 0;
                header = false;
            }
            String key = vsaKey(v);
            out.printf(Locale.ROOT, "%-16s %9.0f %9.0f %9.0f %11.0f %11.0f %7.0f%n", v.vsa().name(),
                    delta(before, after, key, "vsa.READS") * perSecond,
                    delta(before, after, key, "vsa.WRITES") * perSecond,
                    delta(before, after, key, "vsa.FLUSHES") * perSecond,
                    delta(before, after, key, "vsa.BYTES_READ") * perSecond,
                    delta(before, after, key, "vsa.BYTES_WRITTEN") * perSecond,
                    delta(before, after, key, "vsa.ERRORS") * perSecond);
            lines++;
        }
        return lines;
    }

    private static long drops(Map<String, Long> counters) {
        long sum = 0;
        for (String name : DROPS_COUNTED) {
            sum += counters.getOrDefault(name, 0L);
        }
        return sum;
    }

    private static long intervalText(PrintStream out, List<OpsCommands.Attached> attached,
            Map<String, Map<String, Long>> before, Map<String, Map<String, Long>> after, long intervalMillis,
            long lines) {
        double perSecond = 1000.0 / intervalMillis;
        for (OpsCommands.Attached a : attached) {
            String vnic = a.vnic().name();
            String stackKey = vnic + "/stack";
            for (ControlStatus.QueueStatus q : a.vnic().queues()) {
                if (lines++ % HEADER_EVERY == 0) {
                    out.printf("%-16s %2s %9s %11s %9s %11s %7s %8s %8s %8s %8s%n", "vnic", "q", "rx pk/s", "rx B/s",
                            "tx pk/s", "tx B/s", "drop/s", "full/s", "bells/s", "spins/s", "retr/s");
                }
                String key = vnic + "/" + q.index();
                long dropped = 0;
                StringBuilder reasons = new StringBuilder();
                for (String reason : DROP_REASONS) {
                    long d = delta(before, after, key, reason);
                    if (DROPS_COUNTED.contains(reason)) {
                        dropped += d;
                    }
                    if (d > 0) {
                        reasons.append(reasons.isEmpty() ? "  drops: " : " ").append(reason).append('=').append(d);
                    }
                }
                // The stack's spins and retransmissions belong to queue 0 (the provider runs one stack there).
                long spins = q.index() == 0 ? delta(before, after, stackKey, "poll.SPINS_PAID")
                        + delta(before, after, stackKey, "poll.SPINS_WASTED") : 0;
                long retransmits = q.index() == 0 ? delta(before, after, stackKey, "tcp.RETRANSMITTED_SEGMENTS") : 0;
                out.printf(Locale.ROOT, "%-16s %2d %9.0f %11.0f %9.0f %11.0f %7.0f %8.0f %8.0f %8.0f %8.0f%s%n", vnic,
                        q.index(), delta(before, after, key, "RX_PACKETS") * perSecond,
                        delta(before, after, key, "RX_BYTES") * perSecond,
                        delta(before, after, key, "TX_PACKETS") * perSecond,
                        delta(before, after, key, "TX_BYTES") * perSecond, dropped * perSecond,
                        delta(before, after, key, "TX_RING_FULL") * perSecond,
                        (delta(before, after, key, "DOORBELLS_RUNG") + delta(before, after, key, "READINESS_SIGNALS"))
                                * perSecond, spins * perSecond,
                        retransmits * perSecond, reasons);
            }
        }
        return lines;
    }

    private static String intervalJson(List<OpsCommands.Attached> attached, List<OpsCommands.MountedVsa> vsas,
            Map<String, Map<String, Long>> before, Map<String, Map<String, Long>> after, long intervalMillis) {
        StringBuilder json = new StringBuilder("{\"intervalMillis\":").append(intervalMillis)
                .append(",\"timeMillis\":").append(System.currentTimeMillis()).append(",\"vnics\":[");
        for (Iterator<OpsCommands.Attached> it = attached.iterator(); it.hasNext(); ) {
            OpsCommands.Attached a = it.next();
            String vnic = a.vnic().name();
            json.append("{\"vnic\":").append(OpsCommands.json(vnic)).append(",\"pid\":").append(a.vnic().pid())
                    .append(",\"queues\":[");
            for (Iterator<ControlStatus.QueueStatus> qi = a.vnic().queues().iterator(); qi.hasNext(); ) {
                ControlStatus.QueueStatus q = qi.next();
                json.append("{\"index\":").append(q.index()).append(",\"deltas\":");
                OpsCommands.counters(json, deltas(before, after, vnic + "/" + q.index()));
                json.append('}');
                if (qi.hasNext()) {
                    json.append(',');
                }
            }
            json.append("],\"stack\":");
            if (a.stats() == null) {
                json.append("null");
            } else {
                OpsCommands.counters(json, deltas(before, after, vnic + "/stack"));
            }
            json.append('}');
            if (it.hasNext()) {
                json.append(',');
            }
        }
        json.append("],\"vsas\":[");
        for (Iterator<OpsCommands.MountedVsa> it = vsas.iterator(); it.hasNext(); ) {
            OpsCommands.MountedVsa v = it.next();
            vsaHead(json, v).append(",\"deltas\":");
            if (v.stats() == null) {
                json.append("null");
            } else {
                OpsCommands.counters(json, deltas(before, after, vsaKey(v)));
            }
            json.append('}');
            if (it.hasNext()) {
                json.append(',');
            }
        }
        return json.append("]}").toString();
    }

    /** A VSA's identity fields, the object left open. */
    private static StringBuilder vsaHead(StringBuilder json, OpsCommands.MountedVsa v) {
        return json.append("{\"vsa\":").append(OpsCommands.json(v.vsa().name()))
                .append(",\"kind\":").append(OpsCommands.json(v.vsa().kind()))
                .append(",\"backend\":").append(OpsCommands.json(v.backend()))
                .append(",\"pid\":").append(v.vsa().pid())
                .append(",\"mainClass\":").append(OpsCommands.json(v.mainClass()));
    }

    /** Non-zero differences of every counter under {@code key}. */
    private static Map<String, Long> deltas(Map<String, Map<String, Long>> before,
            Map<String, Map<String, Long>> after, String key) {
        Map<String, Long> result = new LinkedHashMap<>();
        for (String counter : after.getOrDefault(key, Map.of()).keySet().stream().sorted().toList()) {
            long d = delta(before, after, key, counter);
            if (d != 0) {
                result.put(counter, d);
            }
        }
        return result;
    }

    static String totalsText(List<OpsCommands.Attached> attached, List<OpsCommands.MountedVsa> vsas) {
        StringBuilder text = new StringBuilder();
        if (attached.isEmpty() && vsas.isEmpty()) {
            text.append("no VNICs attached");
        }
        for (OpsCommands.Attached a : attached) {
            text.append("VNIC ").append(a.vnic().name()).append("  ").append(OpsCommands.owner(a)).append("  ")
                    .append(OpsCommands.address(a.vnic())).append('\n');
            for (ControlStatus.QueueStatus q : a.vnic().queues()) {
                Map<String, Long> c = q.counters();
                text.append(String.format(Locale.ROOT,
                        "  queue %d: rx %,d packets %,d bytes, tx %,d packets %,d bytes, drops %,d, ring full %,d,"
                                + " doorbells %,d, idle waits %,d%n", q.index(), c.getOrDefault("RX_PACKETS", 0L),
                        c.getOrDefault("RX_BYTES", 0L), c.getOrDefault("TX_PACKETS", 0L), c.getOrDefault("TX_BYTES", 0L),
                        drops(c), c.getOrDefault("TX_RING_FULL", 0L),
                        c.getOrDefault("DOORBELLS_RUNG", 0L) + c.getOrDefault("READINESS_SIGNALS", 0L),
                        c.getOrDefault("IDLE_WAITS", 0L)));
                StringBuilder reasons = new StringBuilder();
                for (String reason : DROP_REASONS) {
                    long v = c.getOrDefault(reason, 0L);
                    if (v != 0) {
                        reasons.append(' ').append(reason).append('=').append(v);
                    }
                }
                if (!reasons.isEmpty()) {
                    text.append("           drops by reason:").append(reasons).append('\n');
                }
            }
            StackStats s = a.stats();
            if (s == null) {
                text.append("  stack: ").append(a.whyNoStats()).append('\n');
                continue;
            }
            text.append(String.format(Locale.ROOT,
                    "  stack: spins paid %,d wasted %,d, epoll sleeps %,d, missed wake-ups %,d (published %s ago)%n",
                    s.counter("poll.SPINS_PAID"), s.counter("poll.SPINS_WASTED"), s.counter("poll.EPOLL_SLEEPS"),
                    s.counter("poll.MISSED_WAKEUPS"), OpsCommands.ageOf(s)));
            text.append(String.format(Locale.ROOT,
                    "  tcp:   segments in %,d out %,d, data bytes in %,d out %,d, retransmitted %,d, RTOs %,d,"
                            + " connections %,d%n", s.counter("tcp.SEGMENTS_IN"), s.counter("tcp.SEGMENTS_OUT"),
                    s.counter("tcp.DATA_BYTES_IN"), s.counter("tcp.DATA_BYTES_OUT"),
                    s.counter("tcp.RETRANSMITTED_SEGMENTS"), s.counter("tcp.RTO_EXPIRATIONS"),
                    s.counter("tcp.CONNECTIONS")));
            StringBuilder stackDrops = new StringBuilder();
            s.counters().forEach((name, value) -> {
                if (value != 0 && (name.startsWith("stack.DROPPED") || name.startsWith("tcp.DROP_"))) {
                    stackDrops.append(' ').append(name).append('=').append(value);
                }
            });
            if (!stackDrops.isEmpty()) {
                text.append("  stack drops by reason:").append(stackDrops).append('\n');
            }
        }
        for (OpsCommands.MountedVsa v : vsas) {
            text.append("VSA ").append(v.vsa().name()).append("  pid ").append(v.vsa().pid())
                    .append(v.mainClass().isEmpty() ? "" : " (" + v.mainClass() + ")").append("  ")
                    .append(v.backend().isEmpty() ? v.vsa().kind() : v.backend()).append(", ")
                    .append(v.vsa().extent()).append('\n');
            StackStats s = v.stats();
            if (s == null) {
                text.append("  io: ").append(v.whyNoStats()).append('\n');
                continue;
            }
            text.append(String.format(Locale.ROOT,
                    "  io: reads %,d writes %,d flushes %,d, bytes read %,d written %,d, errors %,d (published %s ago)%n",
                    s.counter("vsa.READS"), s.counter("vsa.WRITES"), s.counter("vsa.FLUSHES"),
                    s.counter("vsa.BYTES_READ"), s.counter("vsa.BYTES_WRITTEN"), s.counter("vsa.ERRORS"),
                    OpsCommands.ageOf(s)));
            text.append(String.format(Locale.ROOT, "  log: forces %,d, records %,d, compactions %,d, live bytes %,d of"
                    + " %,d in the region%n", s.counter("vsa.FORCES"), s.counter("vsa.RECORDS"),
                    s.counter("vsa.COMPACTIONS"), s.counter("vsa.LIVE_BYTES"), s.counter("vsa.REGION_BYTES")));
        }
        return text.toString().stripTrailing();
    }

    static String totalsJson(List<OpsCommands.Attached> attached, List<OpsCommands.MountedVsa> vsas) {
        StringBuilder json = new StringBuilder("{\"vnics\":[");
        for (Iterator<OpsCommands.Attached> it = attached.iterator(); it.hasNext(); ) {
            OpsCommands.Attached a = it.next();
            json.append("{\"vnic\":").append(OpsCommands.json(a.vnic().name())).append(",\"pid\":")
                    .append(a.vnic().pid()).append(",\"counters\":");
            OpsCommands.counters(json, new java.util.TreeMap<>(a.vnic().counters()));
            json.append(",\"queues\":[");
            for (Iterator<ControlStatus.QueueStatus> qi = a.vnic().queues().iterator(); qi.hasNext(); ) {
                ControlStatus.QueueStatus q = qi.next();
                json.append("{\"index\":").append(q.index()).append(",\"counters\":");
                OpsCommands.counters(json, new java.util.TreeMap<>(q.counters()));
                json.append('}');
                if (qi.hasNext()) {
                    json.append(',');
                }
            }
            json.append("],\"stack\":");
            if (a.stats() == null) {
                json.append("null");
            } else {
                OpsCommands.counters(json, a.stats().counters());
            }
            json.append('}');
            if (it.hasNext()) {
                json.append(',');
            }
        }
        json.append("],\"vsas\":[");
        for (Iterator<OpsCommands.MountedVsa> it = vsas.iterator(); it.hasNext(); ) {
            OpsCommands.MountedVsa v = it.next();
            vsaHead(json, v).append(",\"counters\":");
            if (v.stats() == null) {
                json.append("null,\"why\":").append(OpsCommands.json(v.whyNoStats()));
            } else {
                OpsCommands.counters(json, v.stats().counters());
                json.append(",\"publishedAtMillis\":").append(v.stats().publishedAtMillis());
            }
            json.append('}');
            if (it.hasNext()) {
                json.append(',');
            }
        }
        return json.append("]}").toString();
    }
}
