package io.arrakis.cli;

import io.arrakis.control.ControlClient;
import io.arrakis.control.ControlStatus;
import io.arrakis.control.stats.StackStats;
import io.arrakis.control.stats.StatsFile;
import io.arrakis.control.stats.StatsReader;
import io.arrakis.control.stats.VsaStats;
import io.arrakis.device.Ipv4Text;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What the operator's commands share ({@code status}, {@code stat}, {@code ss}, {@code capture}):
 * the control plane's status joined with each attached process's stats file
 * ({@link StatsFile}), which the process's stack publishes and these commands only read. Stateless.
 */
final class OpsCommands {
    private OpsCommands() {}

    /** A VNIC as the control plane knows it, with its process's published stats (null: it publishes none). */
    record Attached(ControlStatus.VnicStatus vnic, StackStats stats, String whyNoStats) {}

    /** A VSA held by a process, with the counters that process publishes (null: it publishes none). */
    record MountedVsa(ControlStatus.VsaStatus vsa, StackStats stats, String whyNoStats) {
        /** The backend the process mounted it with, from its stats file ("" when unknown). */
        String backend() {
            if (stats == null) {
                return "";
            }
            String subject = stats.vnic();
            int colon = subject.lastIndexOf(':');
            return subject.startsWith(VsaStats.SUBJECT_PREFIX) && colon >= VsaStats.SUBJECT_PREFIX.length()
                    ? subject.substring(colon + 1) : "";
        }

        String mainClass() {
            return stats == null ? "" : stats.mainClass();
        }
    }

    /**
     * The held VSAs (those named, all when {@code names} holds no VSA's name) with the stats
     * their processes publish ({@link VsaStats}); a stats file of another pid (a holder that died
     * before this one attached) is not theirs.
     */
    static List<MountedVsa> mountedVsas(ControlStatus status, Path socket, List<String> names) {
        boolean anyNamed = status.vsas().stream().anyMatch(v -> names.contains(v.name()));
        List<MountedVsa> result = new ArrayList<>();
        for (ControlStatus.VsaStatus v : status.vsas()) {
            if (v.free() || anyNamed && !names.contains(v.name()) || !anyNamed && !names.isEmpty()) {
                continue;
            }
            Path file = VsaStats.path(socket, v.name());
            StackStats stats = null;
            String why = null;
            try (StatsReader reader = StatsReader.open(file)) {
                stats = reader.read();
                if (stats.pid() != v.pid()) {
                    why = "its stats file " + file + " belongs to pid " + stats.pid() + ", not the VSA's holder";
                    stats = null;
                }
            } catch (NoSuchFileException e) {
                why = "publishes no VSA statistics (not mounted through the agent's storage.vsa=control:, or a"
                        + " version before them)";
            } catch (IOException e) {
                why = "VSA stats unreadable: " + e.getMessage();
            }
            result.add(new MountedVsa(v, stats, why));
        }
        return result;
    }

    /** {@code names} without those of the control plane's VSAs (what is left must be VNICs). */
    static List<String> vnicNames(ControlStatus status, List<String> names) {
        return names.stream().filter(n -> status.vsas().stream().noneMatch(v -> v.name().equals(n))).toList();
    }

    static ControlStatus status(Path socket) throws IOException {
        try (ControlClient client = ControlCommands.connect(socket)) {
            return client.status();
        }
    }

    /**
     * The VNICs named (all when {@code names} is empty) with their stats; an unknown name fails
     * with the one line that lists the names there are.
     */
    static List<Attached> attached(ControlStatus status, Path socket, List<String> names) throws IOException {
        for (String name : names) {
            requireVnic(status, socket, name);
        }
        List<Attached> result = new ArrayList<>();
        for (ControlStatus.VnicStatus v : status.vnics()) {
            if (!names.isEmpty() && !names.contains(v.name())) {
                continue;
            }
            Path file = StatsFile.path(socket, v.name());
            StackStats stats = null;
            String why = null;
            try (StatsReader reader = StatsReader.open(file)) {
                stats = reader.read();
                if (stats.pid() != v.pid()) {
                    why = "its stats file " + file + " belongs to pid " + stats.pid() + ", not the VNIC's owner";
                    stats = null;
                }
            } catch (NoSuchFileException e) {
                why = "publishes no stats (no user-level stack, or one started before this version)";
            } catch (IOException e) {
                why = "stats unreadable: " + e.getMessage();
            }
            result.add(new Attached(v, stats, why));
        }
        return result;
    }

    static ControlStatus.VnicStatus requireVnic(ControlStatus status, Path socket, String name) throws IOException {
        ControlStatus.VnicStatus v = status.vnic(name);
        if (v == null) {
            List<String> names = status.vnics().stream().map(ControlStatus.VnicStatus::name).toList();
            throw new IOException("no VNIC named " + name + " on the control plane at " + socket + " ("
                    + (names.isEmpty() ? "it has none" : "it has: " + String.join(", ", names)) + "); see: arrakis status");
        }
        return v;
    }

    static String ageOf(StackStats stats) {
        long age = Math.max(0, System.currentTimeMillis() - stats.publishedAtMillis());
        return age < 10_000 ? age + " ms" : age / 1000 + " s (the process may be stopped or wedged)";
    }

    static String json(String text) {
        return StatusJson.string(text);
    }

    /** Counters as a JSON object, in their order. */
    static void counters(StringBuilder json, Map<String, Long> values) {
        json.append('{');
        for (Iterator<Map.Entry<String, Long>> it = values.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, Long> e = it.next();
            json.append(json(e.getKey())).append(':').append(e.getValue());
            if (it.hasNext()) {
                json.append(',');
            }
        }
        json.append('}');
    }

    /** {@code counters} without those that are 0. */
    static Map<String, Long> nonZero(Map<String, Long> counters) {
        Map<String, Long> result = new LinkedHashMap<>();
        counters.forEach((k, v) -> {
            if (v != 0) {
                result.put(k, v);
            }
        });
        return result;
    }

    /** A process's identity for people: {@code pid 1234 (io.example.Main)}. */
    static String owner(Attached a) {
        return "pid " + a.vnic().pid() + (a.stats() != null && !a.stats().mainClass().isEmpty()
                ? " (" + a.stats().mainClass() + ")" : "");
    }

    static String address(ControlStatus.VnicStatus v) {
        return Ipv4Text.format(v.address());
    }

    static String millis(long nanos) {
        return String.format(Locale.ROOT, "%.3f", nanos / 1e6);
    }
}
