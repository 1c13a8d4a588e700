package io.arrakis.cli;

import io.arrakis.control.ControlStatus;
import io.arrakis.control.stats.StackStats;
import io.arrakis.device.Ipv4Text;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * {@code arrakis ss}: the user-level TCP connections and listeners of every attached process (or
 * of the VNICs named), as {@code ss -ti} shows the kernel's: state, queues, RTT, RTO, MSS, cwnd,
 * ssthresh, bytes in flight, retransmissions, bytes each way, windows. Read from each process's
 * stats file, never from the process itself: a busy or stopped process answers just the same
 * (with the age of its last publication). Stateless.
 */
final class SsCommand implements Command {
    /** ssthresh before the first loss (the engine's MAX_CWND, 2^30): shown as "-", as ss does. */
    private static final long NO_SSTHRESH = 1L << 30;

    @Override
    public String name() {
        return "ss";
    }

    @Override
    public String summary() {
        return "user-level TCP connections of every attached process (state, queues, RTT, cwnd, retransmits), like"
                + " ss -ti";
    }

    @Override
    public String usage() {
        return "[vnic...] [--socket PATH] [--json]";
    }

    @Override
    public int run(List<String> words, Console console) throws Exception {
        Arguments arguments = Arguments.parse(words, Set.of(ControlCommands.SOCKET), Set.of("--json"));
        Path socket = ControlCommands.socket(arguments);
        ControlStatus status = OpsCommands.status(socket);
        List<OpsCommands.Attached> attached = OpsCommands.attached(status, socket, arguments.positional());
        if (arguments.flag("--json")) {
            console.out().println(json(attached));
        } else {
            text(attached, console.out());
        }
        return 0;
    }

    static void text(List<OpsCommands.Attached> attached, PrintStream out) {
        if (attached.isEmpty()) {
            out.println("no VNICs attached");
        }
        for (OpsCommands.Attached a : attached) {
            out.println("VNIC " + a.vnic().name() + "  " + OpsCommands.owner(a) + "  " + OpsCommands.address(a.vnic())
                    + (a.stats() == null ? "  " + a.whyNoStats() : "  (published " + OpsCommands.ageOf(a.stats())
                    + " ago)"));
            if (a.stats() == null) {
                continue;
            }
            out.printf("%-12s %7s %7s %-22s %-22s%n", "State", "Recv-Q", "Send-Q", "Local Address:Port",
                    "Peer Address:Port");
            for (StackStats.Connection c : a.stats().connections()) {
                out.printf("%-12s %7d %7d %-22s %-22s%n", c.state(), c.listener() ? c.acceptQueue() : c.receiveQueue(),
                        c.sendQueue(), c.local(), c.remote());
                if (!c.listener()) {
                    int mss = Math.max(1, c.mss());
                    out.println("\t rtt:" + OpsCommands.millis(c.srttNanos()) + "/" + OpsCommands.millis(c.rttVarNanos())
                            + " rto:" + OpsCommands.millis(c.rtoNanos()) + " mss:" + c.mss()
                            + " cwnd:" + c.congestionWindow() / mss
                            + " ssthresh:" + (c.slowStartThreshold() >= NO_SSTHRESH ? "-" : c.slowStartThreshold() / mss)
                            + " unacked:" + c.bytesInFlight() + " retrans:" + c.retransmits()
                            + " bytes_sent:" + c.bytesOut() + " bytes_received:" + c.bytesIn()
                            + " snd_wnd:" + c.sendWindow() + " rcv_wnd:" + c.receiveWindow());
                }
            }
            long hidden = a.stats().totalConnections() - a.stats().connections().size();
            if (hidden > 0) {
                out.println("  ... and " + hidden + " more (the stats file's table is full)");
            }
        }
    }

    static String json(List<OpsCommands.Attached> attached) {
        StringBuilder json = new StringBuilder("{\"processes\":[");
        for (Iterator<OpsCommands.Attached> it = attached.iterator(); it.hasNext(); ) {
            OpsCommands.Attached a = it.next();
            json.append("{\"vnic\":").append(OpsCommands.json(a.vnic().name()))
                    .append(",\"pid\":").append(a.vnic().pid())
                    .append(",\"address\":").append(OpsCommands.json(OpsCommands.address(a.vnic())));
            if (a.stats() == null) {
                json.append(",\"stats\":null,\"why\":").append(OpsCommands.json(a.whyNoStats())).append('}');
            } else {
                StackStats s = a.stats();
                json.append(",\"mainClass\":").append(OpsCommands.json(s.mainClass()))
                        .append(",\"publishedAtMillis\":").append(s.publishedAtMillis())
                        .append(",\"totalConnections\":").append(s.totalConnections())
                        .append(",\"connections\":[");
                for (Iterator<StackStats.Connection> ci = s.connections().iterator(); ci.hasNext(); ) {
                    connection(json, ci.next());
                    if (ci.hasNext()) {
                        json.append(',');
                    }
                }
                json.append("]}");
            }
            if (it.hasNext()) {
                json.append(',');
            }
        }
        return json.append("]}").toString();
    }

    private static void connection(StringBuilder json, StackStats.Connection c) {
        json.append("{\"state\":").append(OpsCommands.json(c.state()))
                .append(",\"localAddress\":").append(OpsCommands.json(Ipv4Text.format(c.localAddress())))
                .append(",\"localPort\":").append(c.localPort());
        if (c.listener()) {
            json.append(",\"acceptQueue\":").append(c.acceptQueue()).append('}');
            return;
        }
        json.append(",\"remoteAddress\":").append(OpsCommands.json(Ipv4Text.format(c.remoteAddress())))
                .append(",\"remotePort\":").append(c.remotePort())
                .append(",\"receiveQueue\":").append(c.receiveQueue())
                .append(",\"sendQueue\":").append(c.sendQueue())
                .append(",\"rttMillis\":").append(String.format(Locale.ROOT, "%.3f", c.srttNanos() / 1e6))
                .append(",\"rttVarMillis\":").append(String.format(Locale.ROOT, "%.3f", c.rttVarNanos() / 1e6))
                .append(",\"rtoMillis\":").append(String.format(Locale.ROOT, "%.3f", c.rtoNanos() / 1e6))
                .append(",\"mss\":").append(c.mss())
                .append(",\"cwndBytes\":").append(c.congestionWindow())
                .append(",\"ssthreshBytes\":").append(c.slowStartThreshold() >= NO_SSTHRESH ? -1 : c.slowStartThreshold())
                .append(",\"bytesInFlight\":").append(c.bytesInFlight())
                .append(",\"retransmits\":").append(c.retransmits())
                .append(",\"bytesSent\":").append(c.bytesOut())
                .append(",\"bytesReceived\":").append(c.bytesIn())
                .append(",\"sendWindow\":").append(c.sendWindow())
                .append(",\"receiveWindow\":").append(c.receiveWindow()).append('}');
    }
}
