package io.arrakis.cli;

import io.arrakis.control.ControlStatus;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.RateLimit;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code arrakis control status --json}: the control plane's status as one JSON object, for
 * scripts. Field names are stable; counters appear only when non-zero; a rate of 0 means not
 * limited on that axis. Stateless.
 *
 * <pre>
 * {"pid":1,"socket":"/run/arrakis/control.sock","subnet":"198.18.0.0/24","attaches":2,"detaches":1,
 *  "vnics":[{"id":2,"name":"web","pid":1234,"uid":0,"mac":"02:..","address":"198.18.0.2",
 *            "rateLimit":{"bytesPerSecond":0,"packetsPerSecond":0,"burstBytes":0,"burstPackets":0},
 *            "listeners":[{"protocol":"tcp","port":80}],"counters":{"RX_PACKETS":3}}],
 *  "channels":[{"from":2,"to":3,"published":10,"consumed":9}]}
 * </pre>
 */
final class StatusJson {
    private StatusJson() {}

    static String format(ControlStatus status) {
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
            json.append("],\"counters\":{");
            // Sorted, so the same status always prints the same text.
            for (Iterator<Map.Entry<String, Long>> c = new TreeMap<>(v.counters()).entrySet().iterator(); c.hasNext(); ) {
                Map.Entry<String, Long> counter = c.next();
                json.append(string(counter.getKey())).append(':').append(counter.getValue());
                if (c.hasNext()) {
                    json.append(',');
                }
            }
            json.append("}}");
            if (it.hasNext()) {
                json.append(',');
            }
        }
        json.append("],\"channels\":[");
        for (Iterator<ControlStatus.ChannelStatus> it = status.channels().iterator(); it.hasNext(); ) {
            ControlStatus.ChannelStatus c = it.next();
            json.append("{\"from\":").append(c.from()).append(",\"to\":").append(c.to())
                    .append(",\"published\":").append(c.published()).append(",\"consumed\":").append(c.consumed())
                    .append('}');
            if (it.hasNext()) {
                json.append(',');
            }
        }
        return json.append("]}").toString();
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
