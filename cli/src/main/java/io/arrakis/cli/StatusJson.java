package io.arrakis.cli;

import io.arrakis.control.ControlStatus;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.RateLimit;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code arrakis control status --json}: the control plane's status as one JSON object, for
 * scripts. Field names are stable; counters appear only when non-zero; a rate of 0 means not
 * limited on that axis; a VNIC's "counters" are the sums over its queues, each queue's own are in
 * "queues"; filters are listed in the order installed, an address or port of 0 meaning any.
 * Stateless.
 *
 * <pre>
 * {"pid":1,"socket":"/run/arrakis/control.sock","subnet":"198.18.0.0/24","attaches":2,"detaches":1,
 *  "vnics":[{"id":2,"name":"web","pid":1234,"uid":0,"mac":"02:..","address":"198.18.0.2",
 *            "rateLimit":{"bytesPerSecond":0,"packetsPerSecond":0,"burstBytes":0,"burstPackets":0},
 *            "listeners":[{"protocol":"tcp","port":80}],"counters":{"RX_PACKETS":3},
 *            "queues":[{"index":0,"counters":{"RX_PACKETS":1}},{"index":1,"counters":{"RX_PACKETS":2}}],
 *            "filters":[{"protocol":"tcp","localAddress":"198.18.0.2","localPort":80,
 *                        "remoteAddress":"0.0.0.0","remotePort":0,"queue":1}]}],
 *  "channels":[{"from":2,"fromQueue":0,"to":3,"toQueue":0,"published":10,"consumed":9}],
 *  "xdp":[],
 *  "vsas":[{"name":"appdata","kind":"file","uid":0,"bytes":1048576,"firstLba":0,"lbaCount":0,
 *           "free":false,"pid":1234,"backend":"io_uring","mainClass":"io.example.Main"}]}
 * </pre>
 */
final class StatusJson {
    private StatusJson() {}

    static String format(ControlStatus status) {
        return format(status, List.of());
    }

    /** With, for the VSAs held by processes that publish, their "backend" and "mainClass". */
    static String format(ControlStatus status, List<OpsCommands.MountedVsa> mounted) {
        StringBuilder json = new StringBuilder(256);
        json.append("{\"pid\":").append(status.pid())
                .append(",\"socket\":").append(string(status.socket()))
                .append(",\"subnet\":").append(string(status.subnet()))
                .append(",\"attaches\":").append(status.attaches())
                .append(",\"detaches\":").append(status.detaches())
                .append(",\"vnics\":[");
        for (Iterator<ControlStatus.VnicStatus> it = status.vnics().iterator(); it.hasNext(); ) {
            ControlStatus.VnicStatus v = it.next();
            RateLimit rate = v.rateLimit();
            json.append("{\"id\":").append(v.id())
                    .append(",\"name\":").append(string(v.name()))
                    .append(",\"pid\":").append(v.pid())
                    .append(",\"uid\":").append(v.uid())
                    .append(",\"mac\":").append(string(v.mac().toString()))
                    .append(",\"address\":").append(string(Ipv4Text.format(v.address())))
                    .append(",\"rateLimit\":{\"bytesPerSecond\":").append(rate.bytesPerSecond())
                    .append(",\"packetsPerSecond\":").append(rate.packetsPerSecond())
                    .append(",\"burstBytes\":").append(rate.burstBytes())
                    .append(",\"burstPackets\":").append(rate.burstPackets()).append('}')
                    .append(",\"listeners\":[");
            for (Iterator<ControlStatus.Listener> l = v.listeners().iterator(); l.hasNext(); ) {
                ControlStatus.Listener listener = l.next();
                json.append("{\"protocol\":").append(string(listener.protocol().name().toLowerCase(Locale.ROOT)))
                        .append(",\"port\":").append(listener.port()).append('}');
                if (l.hasNext()) {
                    json.append(',');
                }
            }
            json.append("],\"counters\":");
            counters(json, v.counters());
            json.append(",\"queues\":[");
            for (Iterator<ControlStatus.QueueStatus> q = v.queues().iterator(); q.hasNext(); ) {
                ControlStatus.QueueStatus queue = q.next();
                json.append("{\"index\":").append(queue.index()).append(",\"counters\":");
                counters(json, queue.counters());
                json.append('}');
                if (q.hasNext()) {
                    json.append(',');
                }
            }
            json.append("],\"filters\":[");
            for (Iterator<ControlStatus.Filter> f = v.filters().iterator(); f.hasNext(); ) {
                ControlStatus.Filter rule = f.next();
                FlowFilter filter = rule.filter();
                flow(json, filter);
                json.append(",\"queue\":").append(rule.queue()).append('}');
                if (f.hasNext()) {
                    json.append(',');
                }
            }
            json.append("]}");
            if (it.hasNext()) {
                json.append(',');
            }
        }
        json.append("],\"channels\":[");
        for (Iterator<ControlStatus.ChannelStatus> it = status.channels().iterator(); it.hasNext(); ) {
            ControlStatus.ChannelStatus c = it.next();
            json.append("{\"from\":").append(c.from()).append(",\"fromQueue\":").append(c.fromQueue())
                    .append(",\"to\":").append(c.to()).append(",\"toQueue\":").append(c.toQueue())
                    .append(",\"published\":").append(c.published()).append(",\"consumed\":").append(c.consumed())
                    .append('}');
            if (it.hasNext()) {
                json.append(',');
            }
        }
        json.append("],\"xdp\":[");
        for (Iterator<ControlStatus.XdpAttachment> it = status.xdp().iterator(); it.hasNext(); ) {
            ControlStatus.XdpAttachment x = it.next();
            json.append("{\"namespace\":").append(string(x.namespace()))
                    .append(",\"interface\":").append(string(x.interfaceName()))
                    .append(",\"mode\":").append(string(x.mode().toLowerCase(Locale.ROOT)))
                    .append(",\"processes\":[");
            for (Iterator<ControlStatus.XdpTenant> t = x.tenants().iterator(); t.hasNext(); ) {
                ControlStatus.XdpTenant tenant = t.next();
                json.append("{\"pid\":").append(tenant.pid()).append(",\"queue\":").append(tenant.queue())
                        .append(",\"address\":").append(string(Ipv4Text.format(tenant.address())))
                        .append(",\"flows\":[");
                for (Iterator<FlowFilter> f = tenant.flows().iterator(); f.hasNext(); ) {
                    flow(json, f.next());
                    json.append('}');
                    if (f.hasNext()) {
                        json.append(',');
                    }
                }
                json.append("]}");
                if (t.hasNext()) {
                    json.append(',');
                }
            }
            json.append("]}");
            if (it.hasNext()) {
                json.append(',');
            }
        }
        json.append("],\"vsas\":[");
        for (Iterator<ControlStatus.VsaStatus> it = status.vsas().iterator(); it.hasNext(); ) {
            ControlStatus.VsaStatus v = it.next();
            json.append("{\"name\":").append(string(v.name()))
                    .append(",\"kind\":").append(string(v.kind()))
                    .append(",\"uid\":").append(v.uid())
                    .append(",\"bytes\":").append(v.bytes())
                    .append(",\"firstLba\":").append(v.firstLba())
                    .append(",\"lbaCount\":").append(v.lbaCount())
                    .append(",\"free\":").append(v.free())
                    .append(",\"pid\":").append(v.pid());
            for (OpsCommands.MountedVsa m : mounted) {
                if (m.vsa().equals(v) && m.stats() != null) {
                    json.append(",\"backend\":").append(string(m.backend()))
                            .append(",\"mainClass\":").append(string(m.mainClass()));
                }
            }
            json.append('}');
            if (it.hasNext()) {
                json.append(',');
            }
        }
        return json.append("]}").toString();
    }

    /** A flow's fields, the object left open for more. */
    private static void flow(StringBuilder json, FlowFilter filter) {
        json.append("{\"protocol\":").append(string(filter.protocol().name().toLowerCase(Locale.ROOT)))
                .append(",\"localAddress\":").append(string(Ipv4Text.format(filter.localAddress())))
                .append(",\"localPort\":").append(filter.localPort())
                .append(",\"remoteAddress\":").append(string(Ipv4Text.format(filter.remoteAddress())))
                .append(",\"remotePort\":").append(filter.remotePort());
    }

    /** Counters as an object, sorted by name, so the same status always prints the same text. */
    private static void counters(StringBuilder json, Map<String, Long> values) {
        json.append('{');
        for (Iterator<Map.Entry<String, Long>> c = new TreeMap<>(values).entrySet().iterator(); c.hasNext(); ) {
            Map.Entry<String, Long> counter = c.next();
            json.append(string(counter.getKey())).append(':').append(counter.getValue());
            if (c.hasNext()) {
                json.append(',');
            }
        }
        json.append('}');
    }

    /** A JSON string literal (RFC 8259): quotes, backslashes and control characters escaped. */
    static String string(String text) {
        StringBuilder out = new StringBuilder(text.length() + 2).append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }
}
