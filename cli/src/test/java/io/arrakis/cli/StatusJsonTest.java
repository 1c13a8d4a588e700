package io.arrakis.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.arrakis.control.ControlStatus;
import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import io.arrakis.device.MacAddress;
import io.arrakis.device.RateLimit;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class StatusJsonTest {
    @Test
    void aStatusBecomesOneStableJsonObject() {
        ControlStatus status = new ControlStatus(7, "/run/arrakis/control.sock", "198.18.0.0/24", 3, 1,
                List.of(new ControlStatus.VnicStatus(2, "web", 1234, 0, new MacAddress(0x02_00_00_00_00_02L),
                        Ipv4Text.parse("198.18.0.2"), new RateLimit(5, 6, 7, 8),
                        Map.of("TX_PACKETS", 4L, "RX_PACKETS", 3L),
                        List.of(new ControlStatus.Listener(FlowFilter.Protocol.UDP, 53),
                                new ControlStatus.Listener(FlowFilter.Protocol.TCP, 80)),
                        List.of(new ControlStatus.QueueStatus(0, Map.of("RX_PACKETS", 1L, "TX_PACKETS", 4L)),
                                new ControlStatus.QueueStatus(1, Map.of("RX_PACKETS", 2L))),
                        List.of(new ControlStatus.Filter(new FlowFilter(FlowFilter.Protocol.TCP,
                                Ipv4Text.parse("198.18.0.2"), 80, Ipv4Text.parse("198.18.0.3"), 0), 1)))),
                List.of(new ControlStatus.ChannelStatus(2, 3, 10, 9), new ControlStatus.ChannelStatus(3, 2, 1, 1, 0, 1)),
                List.of(new ControlStatus.XdpAttachment("ns1", "veth0", "NATIVE", List.of(new ControlStatus.XdpTenant(
                        4321, 0, Ipv4Text.parse("198.18.0.1"), List.of(new FlowFilter(FlowFilter.Protocol.UDP,
                                Ipv4Text.parse("198.18.0.1"), 7000, 0, 0)))))));
        assertEquals("{\"pid\":7,\"socket\":\"/run/arrakis/control.sock\",\"subnet\":\"198.18.0.0/24\",\"attaches\":3,"
                + "\"detaches\":1,\"vnics\":[{\"id\":2,\"name\":\"web\",\"pid\":1234,\"uid\":0,"
                + "\"mac\":\"02:00:00:00:00:02\",\"address\":\"198.18.0.2\",\"rateLimit\":{\"bytesPerSecond\":5,"
                + "\"packetsPerSecond\":6,\"burstBytes\":7,\"burstPackets\":8},\"listeners\":[{\"protocol\":\"tcp\","
                + "\"port\":80},{\"protocol\":\"udp\",\"port\":53}],\"counters\":{\"RX_PACKETS\":3,\"TX_PACKETS\":4},"
                + "\"queues\":[{\"index\":0,\"counters\":{\"RX_PACKETS\":1,\"TX_PACKETS\":4}},{\"index\":1,"
                + "\"counters\":{\"RX_PACKETS\":2}}],\"filters\":[{\"protocol\":\"tcp\",\"localAddress\":\"198.18.0.2\","
                + "\"localPort\":80,\"remoteAddress\":\"198.18.0.3\",\"remotePort\":0,\"queue\":1}]}],"
                + "\"channels\":[{\"from\":2,\"fromQueue\":0,\"to\":3,\"toQueue\":0,\"published\":10,\"consumed\":9},"
                + "{\"from\":3,\"fromQueue\":0,\"to\":2,\"toQueue\":1,\"published\":1,\"consumed\":1}],"
                + "\"xdp\":[{\"namespace\":\"ns1\",\"interface\":\"veth0\",\"mode\":\"native\",\"processes\":"
                + "[{\"pid\":4321,\"queue\":0,\"address\":\"198.18.0.1\",\"flows\":[{\"protocol\":\"udp\","
                + "\"localAddress\":\"198.18.0.1\",\"localPort\":7000,\"remoteAddress\":\"0.0.0.0\","
                + "\"remotePort\":0}]}]}],\"vsas\":[]}",
                StatusJson.format(status));
        assertEquals("{\"pid\":1,\"socket\":\"s\",\"subnet\":\"n\",\"attaches\":0,\"detaches\":0,\"vnics\":[],"
                + "\"channels\":[],\"xdp\":[],\"vsas\":[]}", StatusJson.format(new ControlStatus(1, "s", "n", 0, 0, List.of(),
                List.of())));
        assertEquals("{\"pid\":1,\"socket\":\"s\",\"subnet\":\"n\",\"attaches\":0,\"detaches\":0,\"vnics\":[],"
                + "\"channels\":[],\"xdp\":[],\"vsas\":[{\"name\":\"db\",\"kind\":\"nvme\",\"uid\":5,\"bytes\":1048576,"
                + "\"firstLba\":2048,\"lbaCount\":2048,\"free\":false,\"pid\":42},{\"name\":\"logs\",\"kind\":\"file\","
                + "\"uid\":5,\"bytes\":65536,\"firstLba\":0,\"lbaCount\":0,\"free\":true,\"pid\":0}]}",
                StatusJson.format(new ControlStatus(1, "s", "n", 0, 0, List.of(), List.of(), List.of(), List.of(
                        new ControlStatus.VsaStatus("db", "nvme", 5, 1 << 20, 2048, 2048, 42),
                        new ControlStatus.VsaStatus("logs", "file", 5, 65536, 0, 0, 0)))));
    }

    @Test
    void stringsAreEscaped() {
        assertEquals("\"a\\\"b\\\\c\\n\\t\\u0001é\"", StatusJson.string("a\"b\\c\n\t\u0001é"));
    }
}
