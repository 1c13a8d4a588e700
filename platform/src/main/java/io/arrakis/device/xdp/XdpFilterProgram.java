package io.arrakis.device.xdp;

import static io.arrakis.device.xdp.BpfAssembler.B;
import static io.arrakis.device.xdp.BpfAssembler.H;
import static io.arrakis.device.xdp.BpfAssembler.R0;
import static io.arrakis.device.xdp.BpfAssembler.R1;
import static io.arrakis.device.xdp.BpfAssembler.R10;
import static io.arrakis.device.xdp.BpfAssembler.R2;
import static io.arrakis.device.xdp.BpfAssembler.R3;
import static io.arrakis.device.xdp.BpfAssembler.R4;
import static io.arrakis.device.xdp.BpfAssembler.R5;
import static io.arrakis.device.xdp.BpfAssembler.R6;
import static io.arrakis.device.xdp.BpfAssembler.R7;
import static io.arrakis.device.xdp.BpfAssembler.R8;
import static io.arrakis.device.xdp.BpfAssembler.R9;
import static io.arrakis.device.xdp.BpfAssembler.W;

import io.arrakis.device.FlowFilter;
import io.arrakis.device.xdp.BpfAssembler.Condition;
import io.arrakis.linux.Bpf;
import io.arrakis.linux.LinuxException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The XDP program that is the control plane's receive filter, generated as eBPF here (no
 * compiler, no libbpf). For each frame on the interface:
 * <ol>
 * <li>Ethernet: ARP goes to step 3 keyed by its target protocol address (key protocol
 *     {@value #KEY_PROTOCOL_ARP}, port 0); IPv4 goes on; everything else (IPv6, LLDP, ...) passes.
 * <li>IPv4: any protocol but TCP and UDP passes; the header length is read from IHL; the key
 *     is (protocol, destination address, destination port), every read bounds-checked against
 *     {@code data_end} as the verifier requires. A later fragment (offset non-zero) has no ports
 *     and is keyed with port 0, so it matches only a dedicated address's whole-address filter
 *     (fragments for a port-filtered shared address stay with the kernel).
 * <li>Looks the key up in the flow map (a BPF hash map), then with address 0 (a port on any
 *     local address), then with port 0 (every port of an address dedicated to a process). A hit
 *     names a hardware queue; the frame is redirected with {@code bpf_redirect_map} to the AF_XDP
 *     socket of the queue it arrived on, if that is the queue named or the hit has the
 *     {@linkplain #VALUE_ANY_QUEUE any-queue flag} (and that queue's XSKMAP slot holds a socket).
 *     XDP cannot move a frame to another queue's socket: steering a flow to a queue is the NIC's
 *     job (RSS, ethtool ntuple rules), so a process whose XSKMAP holds only its own sockets
 *     ({@code filters=own}) sets the flag and takes its flows on whichever of its queues they
 *     arrive.
 * <li>Everything else, and a hit without the flag that arrived on another hardware queue, is
 *     {@code XDP_PASS}: the kernel's own stack keeps SSH, ICMP and every port nobody claimed.
 * </ol>
 * The filters change by updating the flow map; the program is never reloaded.
 *
 * <p>Flow map key, {@value #KEY_SIZE} bytes: IPv4 destination address (network order), destination
 * port (network order), IP protocol number (0 for ARP), a zero byte. Value (u32, host order):
 * the hardware queue named (= its XSKMAP index) in the low 16 bits, and {@link #VALUE_ANY_QUEUE}.
 * Stateless; thread-safe.
 */
public final class XdpFilterProgram {
    public static final int KEY_SIZE = 8;
    public static final int VALUE_SIZE = 4;
    /** The key's protocol byte for ARP (IP protocol 0 never carries ports, so it cannot clash). */
    public static final int KEY_PROTOCOL_ARP = 0;
    /** The flow-map value's bits that name the hardware queue. */
    public static final int VALUE_QUEUE_MASK = 0xffff;
    /**
     * The flow-map value's flag: a frame of the flow that arrived on a queue other than the one
     * named goes to the socket of the queue it arrived on (if any) rather than to the kernel.
     */
    public static final int VALUE_ANY_QUEUE = 1 << 31;

    // linux/bpf.h enum bpf_func_id
    private static final int BPF_FUNC_MAP_LOOKUP_ELEM = 1;
    private static final int BPF_FUNC_REDIRECT_MAP = 51;
    // linux/bpf.h struct xdp_md
    private static final int XDP_MD_DATA = 0;
    private static final int XDP_MD_DATA_END = 4;
    private static final int XDP_MD_RX_QUEUE_INDEX = 16;
    // Ethernet and IPv4 offsets; the 16-bit constants are as a little-endian load sees network order.
    private static final int ETHERNET_HEADER = 14;
    private static final int ETHERTYPE_AT = 12;
    private static final int ETHERTYPE_IPV4_LOADED = 0x0008;
    private static final int ETHERTYPE_ARP_LOADED = 0x0608;
    private static final int ARP_END = ETHERNET_HEADER + 28;
    private static final int ARP_TARGET_ADDRESS_AT = ETHERNET_HEADER + 24;
    private static final int IPV4_MIN_HEADER = 20;
    private static final int IPV4_FRAGMENT_AT = ETHERNET_HEADER + 6;
    /** The 13-bit fragment offset of network-order bytes, as a little-endian 16-bit load sees them. */
    private static final int FRAGMENT_OFFSET_LOADED_MASK = 0xff1f;
    private static final int IPV4_PROTOCOL_AT = ETHERNET_HEADER + 9;
    private static final int IPV4_DESTINATION_AT = ETHERNET_HEADER + 16;
    private static final int PROTOCOL_TCP = 6;
    private static final int PROTOCOL_UDP = 17;
    /** The key on the stack frame, at r10 - 8. */
    private static final int KEY_AT = -8;

    private static final ValueLayout.OfInt U32_BE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort U16_BE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private XdpFilterProgram() {}

    /** The program's instructions, referring to the two maps by descriptor. */
    public static BpfAssembler generate(int flowMapFd, int xskMapFd) {
        BpfAssembler a = new BpfAssembler();
        a.movRegister(R6, R1)
                .load(W, R2, R6, XDP_MD_DATA)
                .load(W, R3, R6, XDP_MD_DATA_END)
                .movRegister(R4, R2).add(R4, ETHERNET_HEADER)
                .jumpRegister(Condition.GT, R4, R3, "pass")
                .load(H, R5, R2, ETHERTYPE_AT)
                .jump(Condition.EQ, R5, ETHERTYPE_IPV4_LOADED, "ipv4")
                .jump(Condition.NE, R5, ETHERTYPE_ARP_LOADED, "pass");
        // ARP: keyed by the address asked about (or answered to).
        a.movRegister(R4, R2).add(R4, ARP_END)
                .jumpRegister(Condition.GT, R4, R3, "pass")
                .load(W, R7, R2, ARP_TARGET_ADDRESS_AT)
                .store(W, R10, KEY_AT, R7)
                .storeImmediate(W, R10, KEY_AT + 4, 0)
                .jump("lookup");
        a.label("ipv4")
                .movRegister(R4, R2).add(R4, ETHERNET_HEADER + IPV4_MIN_HEADER)
                .jumpRegister(Condition.GT, R4, R3, "pass")
                .load(B, R9, R2, IPV4_PROTOCOL_AT)
                .jump(Condition.EQ, R9, PROTOCOL_TCP, "tcp or udp")
                .jump(Condition.NE, R9, PROTOCOL_UDP, "pass");
        a.label("tcp or udp")
                .load(W, R7, R2, IPV4_DESTINATION_AT)
                .load(H, R5, R2, IPV4_FRAGMENT_AT).and(R5, FRAGMENT_OFFSET_LOADED_MASK)
                .jump(Condition.EQ, R5, 0, "transport")
                // A later fragment has no ports: it can only match a whole dedicated address.
                .store(W, R10, KEY_AT, R7)
                .storeImmediate(H, R10, KEY_AT + 4, 0)
                .store(B, R10, KEY_AT + 6, R9)
                .storeImmediate(B, R10, KEY_AT + 7, 0)
                .jump("lookup");
        a.label("transport")
                .load(B, R8, R2, ETHERNET_HEADER).and(R8, 0x0f).shiftLeft(R8, 2)
                .jump(Condition.LT, R8, IPV4_MIN_HEADER, "pass")
                .add(R2, ETHERNET_HEADER).addRegister(R2, R8)
                .movRegister(R4, R2).add(R4, 4)
                .jumpRegister(Condition.GT, R4, R3, "pass")
                .load(H, R5, R2, 2)
                .store(W, R10, KEY_AT, R7)
                .store(H, R10, KEY_AT + 4, R5)
                .store(B, R10, KEY_AT + 6, R9)
                .storeImmediate(B, R10, KEY_AT + 7, 0);
        a.label("lookup")
                .loadMap(R1, flowMapFd)
                .movRegister(R2, R10).add(R2, KEY_AT)
                .call(BPF_FUNC_MAP_LOOKUP_ELEM)
                .jump(Condition.NE, R0, 0, "found")
                .storeImmediate(W, R10, KEY_AT, 0)
                .loadMap(R1, flowMapFd)
                .movRegister(R2, R10).add(R2, KEY_AT)
                .call(BPF_FUNC_MAP_LOOKUP_ELEM)
                .jump(Condition.NE, R0, 0, "found")
                // Last, the address with port 0: every port of a dedicated address.
                .store(W, R10, KEY_AT, R7)
                .storeImmediate(H, R10, KEY_AT + 4, 0)
                .loadMap(R1, flowMapFd)
                .movRegister(R2, R10).add(R2, KEY_AT)
                .call(BPF_FUNC_MAP_LOOKUP_ELEM)
                .jump(Condition.EQ, R0, 0, "pass");
        a.label("found")
                .load(W, R2, R0, 0)
                .load(W, R3, R6, XDP_MD_RX_QUEUE_INDEX)
                .movRegister(R4, R2).and(R4, VALUE_QUEUE_MASK)
                .jumpRegister(Condition.EQ, R4, R3, "redirect")
                // Arrived on another queue: ours only if the filter takes any queue of its owner.
                .shiftRight(R2, 31)
                .jump(Condition.EQ, R2, 0, "pass");
        a.label("redirect")
                .loadMap(R1, xskMapFd)
                .movRegister(R2, R3)
                // The low bits of the flags are the action when the XSKMAP slot is empty.
                .mov(R3, Bpf.XDP_PASS)
                .call(BPF_FUNC_REDIRECT_MAP)
                .exit();
        a.label("pass")
                .mov(R0, Bpf.XDP_PASS)
                .exit();
        return a;
    }

    /** Loads the program; a refusal carries the verifier's log. */
    public static int load(int flowMapFd, int xskMapFd) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment code = generate(flowMapFd, xskMapFd).assemble(arena);
            return Bpf.progLoad(Bpf.BPF_PROG_TYPE_XDP, code, "GPL", Bpf.BPF_XDP, "arrakis_filter");
        }
    }

    /** Writes the flow-map key of {@code filter} into {@code key} ({@value #KEY_SIZE} bytes). */
    public static void writeKey(FlowFilter filter, MemorySegment key) {
        requireSupported(filter);
        key.fill((byte) 0);
        key.set(U32_BE, 0, filter.localAddress());
        key.set(U16_BE, 4, (short) filter.localPort());
        key.set(ValueLayout.JAVA_BYTE, 6,
                (byte) (filter.protocol() == FlowFilter.Protocol.ARP ? KEY_PROTOCOL_ARP : filter.protocol().number));
    }

    /**
     * Throws unless the program can match {@code filter}: TCP or UDP by local address (0: any)
     * and port, or ARP for a local address; remote parts are not matched (the map is keyed by
     * the local side only, so a connection is covered by its local address and port).
     */
    public static void requireSupported(FlowFilter filter) {
        FlowFilter.Protocol protocol = filter.protocol();
        if (protocol == FlowFilter.Protocol.ARP) {
            if (filter.localAddress() == 0 || filter.localPort() != 0) {
                throw new IllegalArgumentException("XDP filter " + filter + ": an ARP filter names the local address"
                        + " it answers for, and no port");
            }
        } else if (protocol != FlowFilter.Protocol.TCP && protocol != FlowFilter.Protocol.UDP) {
            throw new IllegalArgumentException("XDP filter " + filter + ": the XDP program matches TCP, UDP and ARP;"
                    + " other protocols (" + protocol + ") stay with the kernel");
        } else if (filter.localPort() == 0 && filter.localAddress() == 0) {
            throw new IllegalArgumentException("XDP filter " + filter + ": needs a local port or a local address (a"
                    + " filter for every port of every address would take the kernel's SSH too)");
        }
        if (filter.remoteAddress() != 0 || filter.remotePort() != 0) {
            throw new IllegalArgumentException("XDP filter " + filter + ": the XDP program matches the local"
                    + " address and port only; install the listener's filter (remote address and port 0)");
        }
    }
}
