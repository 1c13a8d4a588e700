package io.arrakis.cli;

import io.arrakis.control.ControlStatus;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * {@code arrakis status}: the control plane (pid, socket, subnet, XDP attachments), its VNICs with
 * their owners (pid and main class, from each process's stats file), addresses, listeners,
 * filters, rate limits and counters, and the channels; its VSAs with their holders (pid, main class
 * and backend from the VSA's stats file) or free. {@code arrakis control status} is the same
 * without the processes' own view. Stateless.
 */
final class StatusCommand implements Command {
    @Override
    public String name() {
        return "status";
    }

    @Override
    public String summary() {
        return "the control plane, its VNICs and their owners (pid, main class), addresses, filters, rate limits;"
                + " its VSAs (backend, size, holder or free)";
    }

    @Override
    public String usage() {
        return "[--socket PATH] [--json]";
    }

    @Override
    public int run(List<String> words, Console console) throws Exception {
        Arguments arguments = Arguments.parse(words, Set.of(ControlCommands.SOCKET), Set.of("--json"))
                .expectPositional(0, 0);
        Path socket = ControlCommands.socket(arguments);
        ControlStatus status = OpsCommands.status(socket);
        List<OpsCommands.Attached> attached = OpsCommands.attached(status, socket, List.of());
        List<OpsCommands.MountedVsa> mounted = OpsCommands.mountedVsas(status, socket, List.of());
        if (arguments.flag("--json")) {
            console.out().println(json(status, attached, mounted));
            return 0;
        }
        console.out().print(status.format());
        console.out().println("processes:");
        if (attached.isEmpty()) {
            console.out().println("  (none attached)");
        }
        for (OpsCommands.Attached a : attached) {
            if (a.stats() == null) {
                console.out().printf("  %-16s pid %-7d %s%n", a.vnic().name(), a.vnic().pid(), a.whyNoStats());
            } else {
                console.out().printf("  %-16s pid %-7d %-40s %d TCP connections/listeners, stats %s old%n",
                        a.vnic().name(), a.vnic().pid(), a.stats().mainClass(), a.stats().totalConnections(),
                        OpsCommands.ageOf(a.stats()));
            }
        }
        if (!status.vsas().isEmpty()) {
            console.out().println("vsas:");
        }
        for (ControlStatus.VsaStatus v : status.vsas()) {
            OpsCommands.MountedVsa m = mounted.stream().filter(x -> x.vsa().equals(v)).findFirst().orElse(null);
            String backend = m != null && !m.backend().isEmpty() ? m.backend() : v.kind();
            console.out().printf("  %-16s %-8s %-36s %s%n", v.name(), backend, v.extent(), v.free() ? "free"
                    : "pid " + v.pid() + (m != null && !m.mainClass().isEmpty() ? " " + m.mainClass()
                    : m != null ? " (" + m.whyNoStats() + ")" : ""));
        }
        return 0;
    }

    /**
     * {@code control status --json}'s object with one more field, "processes", and its "vsas"
     * completed with what their holders publish ("backend", "mainClass").
     */
    static String json(ControlStatus status, List<OpsCommands.Attached> attached,
            List<OpsCommands.MountedVsa> mounted) {
        String base = StatusJson.format(status, mounted);
        StringBuilder json = new StringBuilder(base.substring(0, base.length() - 1)).append(",\"processes\":[");
        for (Iterator<OpsCommands.Attached> it = attached.iterator(); it.hasNext(); ) {
            OpsCommands.Attached a = it.next();
            json.append("{\"vnic\":").append(OpsCommands.json(a.vnic().name()))
                    .append(",\"pid\":").append(a.vnic().pid());
            if (a.stats() != null) {
                json.append(",\"mainClass\":").append(OpsCommands.json(a.stats().mainClass()))
                        .append(",\"startedAtMillis\":").append(a.stats().startedAtMillis())
                        .append(",\"publishedAtMillis\":").append(a.stats().publishedAtMillis())
                        .append(",\"connections\":").append(a.stats().totalConnections());
            } else {
                json.append(",\"stats\":null,\"why\":").append(OpsCommands.json(a.whyNoStats()));
            }
            json.append('}');
            if (it.hasNext()) {
                json.append(',');
            }
        }
        return json.append("]}").toString();
    }
}
