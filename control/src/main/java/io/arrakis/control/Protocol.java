package io.arrakis.control;

import io.arrakis.device.FlowFilter;
import io.arrakis.device.MacAddress;
import io.arrakis.device.RateLimit;
import java.net.ProtocolException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The messages between the control plane and the processes attached to it, one per
 * {@code SOCK_SEQPACKET} datagram, with the file descriptors of a message attached to it
 * ({@code SCM_RIGHTS}). Stateless; encoding allocates (this is the control path).
 *
 * <pre>
 * header (16 bytes, big endian): int magic 0x41524b43 ("ARKC"), short version 4, short type,
 *                                int request id (0 for pushes; a reply carries its request's),
 *                                int body length
 * body: fields in order; a string is a short length and that many UTF-8 bytes; a rate limit is
 *       four longs (bytes/s, packets/s, burst bytes, burst packets); a listener is a byte (the IANA
 *       protocol number, 6 TCP or 17 UDP) and an int port (1..65535); a receive filter is a byte
 *       (the FlowFilter.Protocol's ordinal), int local address, int local port, int remote
 *       address, int remote port, byte queue; an XDP flow is the same without the queue byte, then an int
 *       hardware queue; an XDP interface is a string network namespace ("" for the control
 *       plane's own) and a string interface name
 * </pre>
 *
 * <table>
 * <tr><th>type</th><th>direction</th><th>body</th><th>descriptors</th></tr>
 * <tr><td>1 ATTACH</td><td>process → CP</td><td>name, byte queues</td><td>none</td></tr>
 * <tr><td>2 ATTACHED</td><td>CP → process</td><td>id, name, mac, address, prefix, gateway, mtu,
 *     capacity, frame slot, rate limit, byte queues</td><td>bells (rw, a page per queue), counters
 *     (rw, a page per queue), one readiness eventfd per queue</td></tr>
 * <tr><td>3 PEER_ADDED</td><td>CP → process</td><td>peer id, name, mac, address, rate limit,
 *     byte queues</td><td>outbound forward (rw), outbound return (ro), inbound forward (ro),
 *     inbound return (rw), the peer's bells (rw), one eventfd per peer queue</td></tr>
 * <tr><td>4 PEER_REMOVED</td><td>CP → process</td><td>peer id</td><td>none</td></tr>
 * <tr><td>5 SET_RATE_LIMIT</td><td>tool → CP</td><td>VNIC name, rate limit</td><td>none</td></tr>
 * <tr><td>6 RATE_LIMIT</td><td>CP → owner and peers</td><td>VNIC id, rate limit</td><td>none</td></tr>
 * <tr><td>7 STATUS</td><td>tool → CP</td><td>(empty)</td><td>none</td></tr>
 * <tr><td>8 STATUS_REPLY</td><td>CP → tool</td><td>see {@link #encode}</td><td>none</td></tr>
 * <tr><td>9 OK</td><td>CP → requester</td><td>(empty)</td><td>none</td></tr>
 * <tr><td>10 FAILURE</td><td>CP → requester</td><td>message</td><td>none</td></tr>
 * <tr><td>11 ANNOUNCE_LISTENER</td><td>process → CP</td><td>listener</td><td>none</td></tr>
 * <tr><td>12 WITHDRAW_LISTENER</td><td>process → CP</td><td>listener</td><td>none</td></tr>
 * <tr><td>13 LOOKUP_LISTENER</td><td>any → CP</td><td>listener</td><td>none</td></tr>
 * <tr><td>14 LISTENER</td><td>CP → requester</td><td>listener, VNIC id, address (0, 0: nobody)</td>
 *     <td>none</td></tr>
 * <tr><td>15 PORT_IN_USE</td><td>CP → announcer</td><td>listener, holder's VNIC id, name, pid</td>
 *     <td>none</td></tr>
 * <tr><td>16 SHUTDOWN</td><td>tool → CP</td><td>(empty)</td><td>none</td></tr>
 * <tr><td>17 ADD_FILTER</td><td>owner → CP</td><td>receive filter</td><td>none</td></tr>
 * <tr><td>18 REMOVE_FILTER</td><td>owner → CP</td><td>receive filter (its queue ignored)</td><td>none</td></tr>
 * <tr><td>19 FILTERS</td><td>CP → owner and peers</td><td>VNIC id, int count, receive filters in
 *     the order installed</td><td>none</td></tr>
 * <tr><td>20 SYNC</td><td>any → CP</td><td>(empty); answered OK after everything the control
 *     plane sent this connection before</td><td>none</td></tr>
 * <tr><td>21 XDP_ADMIT</td><td>process → CP</td><td>XDP interface, byte XDP mode (0 skb, 1 native),
 *     int hardware queue, int socket (a descriptor number in the sender, taken with
 *     {@code pidfd_getfd}), int address</td><td>none</td></tr>
 * <tr><td>22 XDP_ADD_FLOW</td><td>admitted process → CP</td><td>XDP interface, XDP flow</td><td>none</td></tr>
 * <tr><td>23 XDP_REMOVE_FLOW</td><td>admitted process → CP</td><td>XDP interface, XDP flow (its queue
 *     ignored)</td><td>none</td></tr>
 * <tr><td>40 VSA_ATTACH</td><td>process → CP</td><td>VSA name, long bytes, string kind ("file" or
 *     "nvme")</td><td>none</td></tr>
 * <tr><td>41 VSA_GRANTED</td><td>CP → process</td><td>VSA name, kind, long bytes, byte fresh, string
 *     where (the file's path, or the NVMe function's address), int namespace, long first LBA, long LBA
 *     count, int LBA size (0s for a file)</td><td>the VSA's file, read-write (file kind only)</td></tr>
 * </table>
 *
 * <p>Version 2 added the listener messages (11–15), the listeners in STATUS_REPLY and SHUTDOWN.
 * Version 3 added queues (in ATTACH, ATTACHED, PEER_ADDED and STATUS_REPLY) and receive filters
 * (17–19, and in STATUS_REPLY) and SYNC. Version 4 added AF_XDP admission (21–23) and the XDP
 * attachments at the end of STATUS_REPLY (int count; each: XDP interface, string mode, int
 * tenants; each tenant: int pid, int hardware queue, int address, int flows, XDP flows).
 * The VSA messages (40–41, {@link VsaRegistry}) came after version 4 without changing it: they
 * are new types, and a control plane that predates them answers FAILURE ("unknown type").
 */
public final class Protocol {
    public static final int MAGIC = 0x4152_4B43;
    public static final int VERSION = 4;
    public static final int HEADER_BYTES = 16;
    /** Largest datagram either side sends or accepts. */
    public static final int MAX_MESSAGE = 1 << 16;
    /** Descriptors attached to PEER_ADDED of a peer with the most queues, the most any message carries. */
    public static final int MAX_FDS = 5 + ChannelLayout.MAX_QUEUES;

    static final short ATTACH = 1;
    static final short ATTACHED = 2;
    static final short PEER_ADDED = 3;
    static final short PEER_REMOVED = 4;
    static final short SET_RATE_LIMIT = 5;
    static final short RATE_LIMIT = 6;
    static final short STATUS = 7;
    static final short STATUS_REPLY = 8;
    static final short OK = 9;
    static final short FAILURE = 10;
    static final short ANNOUNCE_LISTENER = 11;
    static final short WITHDRAW_LISTENER = 12;
    static final short LOOKUP_LISTENER = 13;
    static final short LISTENER = 14;
    static final short PORT_IN_USE = 15;
    static final short SHUTDOWN = 16;
    static final short ADD_FILTER = 17;
    static final short REMOVE_FILTER = 18;
    static final short FILTERS = 19;
    static final short SYNC = 20;
    static final short XDP_ADMIT = 21;
    static final short XDP_ADD_FLOW = 22;
    static final short XDP_REMOVE_FLOW = 23;
    static final short VSA_ATTACH = 40;
    static final short VSA_GRANTED = 41;

    private Protocol() {}

    /** A decoded message. */
    public sealed interface Message permits Attach, Attached, PeerAdded, PeerRemoved, SetRateLimit, RateLimitChanged,
            StatusRequest, StatusReply, Ok, Failure, AnnounceListener, WithdrawListener, LookupListener, ListenerInfo,
            PortInUse, Shutdown, AddFilter, RemoveFilter, Filters, Sync, XdpAdmit, XdpAddFlow, XdpRemoveFlow,
            VsaAttach, VsaGranted {}

    /**
     * Give me the VSA {@code name} of this process's user, of at least {@code bytes} (created when
     * it does not exist), on a {@code kind} device: "file" (a preallocated file, for the file and
     * io_uring backends) or "nvme" (an LBA range of the control plane's NVMe namespace).
     */
    public record VsaAttach(String name, long bytes, String kind) implements Message {}

    /**
     * The VSA granted: for a file, its descriptor travels with this message and {@code where} is
     * its path (for messages only); for NVMe, {@code where} is the function's PCI address and the
     * range is LBAs {@code firstLba .. firstLba + lbaCount - 1} of {@code namespace}.
     * {@code fresh} when it was created for this request (nothing is on it yet).
     */
    public record VsaGranted(String name, String kind, long bytes, boolean fresh, String where, int namespace,
            long firstLba, long lbaCount, int lbaSize) implements Message {}

    /**
     * Admit my AF_XDP socket {@code socketFd} (a descriptor number in the sending process, whose
     * identity is the connection's SO_PEERCRED) to hardware queue {@code queue} of interface
     * {@code interfaceName} in network namespace {@code namespace} ("" for the control plane's),
     * for address {@code address}; attach the program in {@code nativeMode} (else skb) if nobody has.
     */
    public record XdpAdmit(String namespace, String interfaceName, boolean nativeMode, int queue, int socketFd,
            int address) implements Message {
        public XdpAdmit {
            checkXdpInterface(namespace, interfaceName);
            if (queue < 0 || socketFd < 0) {
                throw new IllegalArgumentException("an XDP admission needs a queue and a descriptor >= 0, not queue "
                        + queue + ", descriptor " + socketFd);
            }
        }
    }

    /** An admitted process asks that frames matching {@code filter} go to its socket on hardware queue {@code queue}. */
    public record XdpAddFlow(String namespace, String interfaceName, FlowFilter filter, int queue) implements Message {
        public XdpAddFlow {
            checkXdpInterface(namespace, interfaceName);
        }
    }

    /** An admitted process gives back {@code filter} (OK whether or not it held it). */
    public record XdpRemoveFlow(String namespace, String interfaceName, FlowFilter filter) implements Message {
        public XdpRemoveFlow {
            checkXdpInterface(namespace, interfaceName);
        }
    }

    static void checkXdpInterface(String namespace, String interfaceName) {
        if (namespace == null || interfaceName == null || interfaceName.isBlank()) {
            throw new IllegalArgumentException("an XDP interface needs a name (and a namespace, \"\" for the control"
                    + " plane's own)");
        }
    }

    /**
     * A barrier: the control plane answers OK, after everything it already sent on this
     * connection (an attaching process uses it to know it has heard of every peer there was).
     */
    public record Sync() implements Message {}

    /** A VNIC with {@code queues} queue pairs (1..{@value ChannelLayout#MAX_QUEUES}). */
    public record Attach(String name, int queues) implements Message {
        public Attach {
            checkQueues(queues);
        }

        public Attach(String name) {
            this(name, 1);
        }
    }

    /** The VNIC made for an ATTACH; with it the bells, counters and one readiness eventfd per queue. */
    public record Attached(int id, String name, long mac, int address, int prefixLength, int gateway, int mtu,
            int capacity, int frameSlotSize, RateLimit rateLimit, int queues) implements Message {
        public Attached {
            checkQueues(queues);
        }
    }

    /**
     * A peer joined (or was there before us); with it the four files of the channels between our
     * queues and its queues, its bells, and one eventfd per queue of its.
     */
    public record PeerAdded(int id, String name, long mac, int address, RateLimit rateLimit, int queues)
            implements Message {
        public PeerAdded {
            checkQueues(queues);
        }
    }

    /** The owner asks that flows matching {@code filter} go to its queue {@code queue}. */
    public record AddFilter(FlowFilter filter, int queue) implements Message {}

    /** The owner removes the filter equal to {@code filter} (OK whether or not it was installed). */
    public record RemoveFilter(FlowFilter filter) implements Message {}

    /** VNIC {@code vnic}'s whole receive-filter table, in the order installed (pushed on every change). */
    public record Filters(int vnic, List<ControlStatus.Filter> filters) implements Message {
        public Filters {
            filters = List.copyOf(filters);
        }
    }

    static void checkQueues(int queues) {
        if (queues < 1 || queues > ChannelLayout.MAX_QUEUES) {
            throw new IllegalArgumentException("a VNIC has 1.." + ChannelLayout.MAX_QUEUES + " queues, not " + queues);
        }
    }

    public record PeerRemoved(int id) implements Message {}

    public record SetRateLimit(String vnic, RateLimit limit) implements Message {}

    public record RateLimitChanged(int id, RateLimit limit) implements Message {}

    public record StatusRequest() implements Message {}

    public record StatusReply(ControlStatus status) implements Message {}

    public record Ok() implements Message {}

    public record Failure(String message) implements Message {}

    /** This process's VNIC listens on {@code port}: connections to 127.0.0.1:port may come through the switch. */
    public record AnnounceListener(FlowFilter.Protocol protocol, int port) implements Message {
        public AnnounceListener {
            checkListener(protocol, port);
        }
    }

    /** It no longer does (idempotent; only the announcer's own entry goes). */
    public record WithdrawListener(FlowFilter.Protocol protocol, int port) implements Message {
        public WithdrawListener {
            checkListener(protocol, port);
        }
    }

    /** Who listens on {@code port}? */
    public record LookupListener(FlowFilter.Protocol protocol, int port) implements Message {
        public LookupListener {
            checkListener(protocol, port);
        }
    }

    /** The answer to LOOKUP_LISTENER: the listening VNIC and its address, or {@code vnic} 0 and address 0 for nobody. */
    public record ListenerInfo(FlowFilter.Protocol protocol, int port, int vnic, int address) implements Message {
        public ListenerInfo {
            checkListener(protocol, port);
        }
    }

    /** The answer to an ANNOUNCE_LISTENER for a port another VNIC announced first. */
    public record PortInUse(FlowFilter.Protocol protocol, int port, int vnic, String name, int pid) implements Message {
        public PortInUse {
            checkListener(protocol, port);
        }
    }

    /** Stop the control plane (root or its own uid only); it answers OK, then stops. */
    public record Shutdown() implements Message {}

    /** Listeners are TCP or UDP ports 1..65535 (port 0 is resolved to an ephemeral port before announcing). */
    static void checkListener(FlowFilter.Protocol protocol, int port) {
        if (protocol != FlowFilter.Protocol.TCP && protocol != FlowFilter.Protocol.UDP) {
            throw new IllegalArgumentException("a listener is TCP or UDP, not " + protocol);
        }
        if (port < 1 || port > 0xFFFF) {
            throw new IllegalArgumentException("listener port must be 1..65535, not " + port);
        }
    }

    /** A message and the request id it travelled with. */
    public record Envelope(int requestId, Message message) {}

    // ------------------------------------------------------------------ encoding

    public static byte[] encode(int requestId, Message message) {
        ByteBuffer body = ByteBuffer.allocate(MAX_MESSAGE - HEADER_BYTES);
        short type = switch (message) {
            case Attach m -> {
                putString(body, m.name());
                body.put((byte) m.queues());
                yield ATTACH;
            }
            case Attached m -> {
                body.putInt(m.id());
                putString(body, m.name());
                body.putLong(m.mac()).putInt(m.address()).putInt(m.prefixLength()).putInt(m.gateway())
                        .putInt(m.mtu()).putInt(m.capacity()).putInt(m.frameSlotSize());
                putRate(body, m.rateLimit());
                body.put((byte) m.queues());
                yield ATTACHED;
            }
            case PeerAdded m -> {
                body.putInt(m.id());
                putString(body, m.name());
                body.putLong(m.mac()).putInt(m.address());
                putRate(body, m.rateLimit());
                body.put((byte) m.queues());
                yield PEER_ADDED;
            }
            case PeerRemoved m -> {
                body.putInt(m.id());
                yield PEER_REMOVED;
            }
            case SetRateLimit m -> {
                putString(body, m.vnic());
                putRate(body, m.limit());
                yield SET_RATE_LIMIT;
            }
            case RateLimitChanged m -> {
                body.putInt(m.id());
                putRate(body, m.limit());
                yield RATE_LIMIT;
            }
            case StatusRequest _ -> STATUS;
            case StatusReply m -> {
                putStatus(body, m.status());
                yield STATUS_REPLY;
            }
            case Ok _ -> OK;
            case Shutdown _ -> SHUTDOWN;
            case Sync _ -> SYNC;
            case Failure m -> {
                putString(body, m.message().length() > 4000 ? m.message().substring(0, 4000) : m.message());
                yield FAILURE;
            }
            case AnnounceListener m -> {
                putListener(body, m.protocol(), m.port());
                yield ANNOUNCE_LISTENER;
            }
            case WithdrawListener m -> {
                putListener(body, m.protocol(), m.port());
                yield WITHDRAW_LISTENER;
            }
            case LookupListener m -> {
                putListener(body, m.protocol(), m.port());
                yield LOOKUP_LISTENER;
            }
            case ListenerInfo m -> {
                putListener(body, m.protocol(), m.port());
                body.putInt(m.vnic()).putInt(m.address());
                yield LISTENER;
            }
            case AddFilter m -> {
                putFilter(body, new ControlStatus.Filter(m.filter(), m.queue()));
                yield ADD_FILTER;
            }
            case RemoveFilter m -> {
                putFilter(body, new ControlStatus.Filter(m.filter(), 0));
                yield REMOVE_FILTER;
            }
            case Filters m -> {
                body.putInt(m.vnic()).putInt(m.filters().size());
                for (ControlStatus.Filter filter : m.filters()) {
                    putFilter(body, filter);
                }
                yield FILTERS;
            }
            case PortInUse m -> {
                putListener(body, m.protocol(), m.port());
                body.putInt(m.vnic());
                putString(body, m.name());
                body.putInt(m.pid());
                yield PORT_IN_USE;
            }
            case XdpAdmit m -> {
                putString(body, m.namespace());
                putString(body, m.interfaceName());
                body.put((byte) (m.nativeMode() ? 1 : 0)).putInt(m.queue()).putInt(m.socketFd()).putInt(m.address());
                yield XDP_ADMIT;
            }
            case XdpAddFlow m -> {
                putString(body, m.namespace());
                putString(body, m.interfaceName());
                putXdpFlow(body, m.filter(), m.queue());
                yield XDP_ADD_FLOW;
            }
            case XdpRemoveFlow m -> {
                putString(body, m.namespace());
                putString(body, m.interfaceName());
                putXdpFlow(body, m.filter(), 0);
                yield XDP_REMOVE_FLOW;
            }
            case VsaAttach m -> {
                putString(body, m.name());
                body.putLong(m.bytes());
                putString(body, m.kind());
                yield VSA_ATTACH;
            }
            case VsaGranted m -> {
                putString(body, m.name());
                putString(body, m.kind());
                body.putLong(m.bytes()).put((byte) (m.fresh() ? 1 : 0));
                putString(body, m.where());
                body.putInt(m.namespace()).putLong(m.firstLba()).putLong(m.lbaCount()).putInt(m.lbaSize());
                yield VSA_GRANTED;
            }
        };
        body.flip();
        ByteBuffer whole = ByteBuffer.allocate(HEADER_BYTES + body.remaining());
        whole.putInt(MAGIC).putShort((short) VERSION).putShort(type).putInt(requestId).putInt(body.remaining());
        whole.put(body);
        return whole.array();
    }

    /**
     * Decodes one datagram of {@code length} bytes.
     *
     * @throws ProtocolException if it is not a well-formed message of this version
     */
    public static Envelope decode(ByteBuffer data) throws ProtocolException {
        try {
            if (data.remaining() < HEADER_BYTES) {
                throw new ProtocolException("control message of " + data.remaining() + " bytes is shorter than its "
                        + HEADER_BYTES + "-byte header");
            }
            int magic = data.getInt();
            int version = data.getShort();
            short type = data.getShort();
            int requestId = data.getInt();
            int length = data.getInt();
            if (magic != MAGIC) {
                throw new ProtocolException("not an Arrakis control message (magic 0x" + Integer.toHexString(magic)
                        + ", expected 0x" + Integer.toHexString(MAGIC) + ")");
            }
            if (version != VERSION) {
                throw new ProtocolException("control protocol version " + version + ", this side speaks " + VERSION
                        + ": run the same Arrakis version on both sides");
            }
            if (length != data.remaining()) {
                throw new ProtocolException("control message type " + type + " says its body has " + length
                        + " bytes but " + data.remaining() + " arrived");
            }
            Message message = switch (type) {
                case ATTACH -> new Attach(getString(data), data.get() & 0xFF);
                case ATTACHED -> new Attached(data.getInt(), getString(data), data.getLong(), data.getInt(),
                        data.getInt(), data.getInt(), data.getInt(), data.getInt(), data.getInt(), getRate(data),
                        data.get() & 0xFF);
                case PEER_ADDED -> new PeerAdded(data.getInt(), getString(data), data.getLong(), data.getInt(),
                        getRate(data), data.get() & 0xFF);
                case ADD_FILTER -> {
                    ControlStatus.Filter filter = getFilter(data);
                    yield new AddFilter(filter.filter(), filter.queue());
                }
                case REMOVE_FILTER -> new RemoveFilter(getFilter(data).filter());
                case FILTERS -> {
                    int vnic = data.getInt();
                    int count = checkCount(data.getInt(), data);
                    List<ControlStatus.Filter> filters = new ArrayList<>(count);
                    for (int i = 0; i < count; i++) {
                        filters.add(getFilter(data));
                    }
                    yield new Filters(vnic, filters);
                }
                case PEER_REMOVED -> new PeerRemoved(data.getInt());
                case SET_RATE_LIMIT -> new SetRateLimit(getString(data), getRate(data));
                case RATE_LIMIT -> new RateLimitChanged(data.getInt(), getRate(data));
                case STATUS -> new StatusRequest();
                case STATUS_REPLY -> new StatusReply(getStatus(data));
                case OK -> new Ok();
                case SHUTDOWN -> new Shutdown();
                case SYNC -> new Sync();
                case FAILURE -> new Failure(getString(data));
                case ANNOUNCE_LISTENER -> new AnnounceListener(getProtocol(data), data.getInt());
                case WITHDRAW_LISTENER -> new WithdrawListener(getProtocol(data), data.getInt());
                case LOOKUP_LISTENER -> new LookupListener(getProtocol(data), data.getInt());
                case LISTENER -> new ListenerInfo(getProtocol(data), data.getInt(), data.getInt(), data.getInt());
                case PORT_IN_USE -> new PortInUse(getProtocol(data), data.getInt(), data.getInt(), getString(data),
                        data.getInt());
                case XDP_ADMIT -> new XdpAdmit(getString(data), getString(data), data.get() != 0, data.getInt(),
                        data.getInt(), data.getInt());
                case XDP_ADD_FLOW -> {
                    String namespace = getString(data);
                    String interfaceName = getString(data);
                    FlowFilter filter = getXdpFlow(data);
                    yield new XdpAddFlow(namespace, interfaceName, filter, data.getInt());
                }
                case XDP_REMOVE_FLOW -> {
                    String namespace = getString(data);
                    String interfaceName = getString(data);
                    FlowFilter filter = getXdpFlow(data);
                    data.getInt();
                    yield new XdpRemoveFlow(namespace, interfaceName, filter);
                }
                case VSA_ATTACH -> new VsaAttach(getString(data), data.getLong(), getString(data));
                case VSA_GRANTED -> new VsaGranted(getString(data), getString(data), data.getLong(), data.get() != 0,
                        getString(data), data.getInt(), data.getLong(), data.getLong(), data.getInt());
                default -> throw new ProtocolException("unknown control message type " + type);
            };
            if (data.hasRemaining()) {
                throw new ProtocolException("control message type " + type + " has " + data.remaining()
                        + " bytes after its last field");
            }
            return new Envelope(requestId, message);
        } catch (BufferUnderflowException e) {
            throw new ProtocolException("control message ends in the middle of a field");
        } catch (IllegalArgumentException e) {
            throw new ProtocolException("control message holds an invalid value: " + e.getMessage());
        }
    }

    /** How many descriptors travel with a message of this kind. */
    static int fdsFor(Message message) {
        return switch (message) {
            case Attached m -> 2 + m.queues();
            case PeerAdded m -> 5 + m.queues();
            case VsaGranted m -> VsaRegistry.KIND_FILE.equals(m.kind()) ? 1 : 0;
            default -> 0;
        };
    }

    private static void putString(ByteBuffer buffer, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > Short.MAX_VALUE) {
            throw new IllegalArgumentException("string of " + bytes.length + " bytes is too long for a control message");
        }
        buffer.putShort((short) bytes.length).put(bytes);
    }

    private static String getString(ByteBuffer buffer) throws ProtocolException {
        int length = buffer.getShort();
        if (length < 0 || length > buffer.remaining()) {
            throw new ProtocolException("string length " + length + " runs past the end of the control message");
        }
        byte[] bytes = new byte[length];
        buffer.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private static void putListener(ByteBuffer buffer, FlowFilter.Protocol protocol, int port) {
        buffer.put((byte) protocol.number).putInt(port);
    }

    private static FlowFilter.Protocol getProtocol(ByteBuffer buffer) throws ProtocolException {
        int number = buffer.get() & 0xFF;
        return switch (number) {
            case 6 -> FlowFilter.Protocol.TCP;
            case 17 -> FlowFilter.Protocol.UDP;
            default -> throw new ProtocolException("listener protocol " + number + " is neither TCP (6) nor UDP (17)");
        };
    }

    private static void putFilter(ByteBuffer buffer, ControlStatus.Filter rule) {
        FlowFilter f = rule.filter();
        buffer.put((byte) f.protocol().ordinal()).putInt(f.localAddress()).putInt(f.localPort())
                .putInt(f.remoteAddress()).putInt(f.remotePort()).put((byte) rule.queue());
    }

    private static ControlStatus.Filter getFilter(ByteBuffer buffer) throws ProtocolException {
        int protocol = buffer.get() & 0xFF;
        FlowFilter.Protocol[] protocols = FlowFilter.Protocol.values();
        if (protocol >= protocols.length) {
            throw new ProtocolException("filter protocol " + protocol + " is not one of " + List.of(protocols));
        }
        FlowFilter filter = new FlowFilter(protocols[protocol], buffer.getInt(), buffer.getInt(), buffer.getInt(),
                buffer.getInt());
        return new ControlStatus.Filter(filter, buffer.get() & 0xFF);
    }

    private static void putXdpFlow(ByteBuffer buffer, FlowFilter f, int queue) {
        buffer.put((byte) f.protocol().ordinal()).putInt(f.localAddress()).putInt(f.localPort())
                .putInt(f.remoteAddress()).putInt(f.remotePort()).putInt(queue);
    }

    /** An XDP flow without its trailing queue (the caller reads that). */
    private static FlowFilter getXdpFlow(ByteBuffer buffer) throws ProtocolException {
        int protocol = buffer.get() & 0xFF;
        FlowFilter.Protocol[] protocols = FlowFilter.Protocol.values();
        if (protocol >= protocols.length) {
            throw new ProtocolException("filter protocol " + protocol + " is not one of " + List.of(protocols));
        }
        return new FlowFilter(protocols[protocol], buffer.getInt(), buffer.getInt(), buffer.getInt(), buffer.getInt());
    }

    private static void putRate(ByteBuffer buffer, RateLimit limit) {
        buffer.putLong(limit.bytesPerSecond()).putLong(limit.packetsPerSecond()).putLong(limit.burstBytes())
                .putLong(limit.burstPackets());
    }

    private static RateLimit getRate(ByteBuffer buffer) {
        return new RateLimit(buffer.getLong(), buffer.getLong(), buffer.getLong(), buffer.getLong());
    }

    private static void putStatus(ByteBuffer buffer, ControlStatus status) {
        buffer.putInt(status.pid());
        putString(buffer, status.socket());
        putString(buffer, status.subnet());
        buffer.putLong(status.attaches()).putLong(status.detaches());
        buffer.putInt(status.vnics().size());
        for (ControlStatus.VnicStatus v : status.vnics()) {
            buffer.putInt(v.id());
            putString(buffer, v.name());
            buffer.putInt(v.pid()).putInt(v.uid()).putLong(v.mac().bits()).putInt(v.address());
            putRate(buffer, v.rateLimit());
            buffer.putInt(v.counters().size());
            for (Map.Entry<String, Long> counter : v.counters().entrySet()) {
                putString(buffer, counter.getKey());
                buffer.putLong(counter.getValue());
            }
            buffer.putInt(v.listeners().size());
            for (ControlStatus.Listener listener : v.listeners()) {
                putListener(buffer, listener.protocol(), listener.port());
            }
            buffer.putInt(v.queues().size());
            for (ControlStatus.QueueStatus queue : v.queues()) {
                buffer.putInt(queue.index()).putInt(queue.counters().size());
                for (Map.Entry<String, Long> counter : queue.counters().entrySet()) {
                    putString(buffer, counter.getKey());
                    buffer.putLong(counter.getValue());
                }
            }
            buffer.putInt(v.filters().size());
            for (ControlStatus.Filter filter : v.filters()) {
                putFilter(buffer, filter);
            }
        }
        buffer.putInt(status.channels().size());
        for (ControlStatus.ChannelStatus c : status.channels()) {
            buffer.putInt(c.from()).putInt(c.to()).putLong(c.published()).putLong(c.consumed())
                    .put((byte) c.fromQueue()).put((byte) c.toQueue());
        }
        buffer.putInt(status.xdp().size());
        for (ControlStatus.XdpAttachment x : status.xdp()) {
            putString(buffer, x.namespace());
            putString(buffer, x.interfaceName());
            putString(buffer, x.mode());
            buffer.putInt(x.tenants().size());
            for (ControlStatus.XdpTenant t : x.tenants()) {
                buffer.putInt(t.pid()).putInt(t.queue()).putInt(t.address()).putInt(t.flows().size());
                for (FlowFilter flow : t.flows()) {
                    putXdpFlow(buffer, flow, t.queue());
                }
            }
        }
        // Appended last, and only when there are VSAs: a status without them is the same bytes as
        // before VSAs were reported, so older tools keep reading it.
        if (status.vsas().isEmpty()) {
            return;
        }
        buffer.putInt(status.vsas().size());
        for (ControlStatus.VsaStatus v : status.vsas()) {
            putString(buffer, v.name());
            putString(buffer, v.kind());
            buffer.putInt(v.uid()).putLong(v.bytes()).putLong(v.firstLba()).putLong(v.lbaCount()).putInt(v.pid());
        }
    }

    private static ControlStatus getStatus(ByteBuffer buffer) throws ProtocolException {
        int pid = buffer.getInt();
        String socket = getString(buffer);
        String subnet = getString(buffer);
        long attaches = buffer.getLong();
        long detaches = buffer.getLong();
        int count = checkCount(buffer.getInt(), buffer);
        List<ControlStatus.VnicStatus> vnics = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int id = buffer.getInt();
            String name = getString(buffer);
            int vpid = buffer.getInt();
            int uid = buffer.getInt();
            MacAddress mac = new MacAddress(buffer.getLong());
            int address = buffer.getInt();
            RateLimit limit = getRate(buffer);
            int counterCount = checkCount(buffer.getInt(), buffer);
            Map<String, Long> counters = new LinkedHashMap<>();
            for (int k = 0; k < counterCount; k++) {
                counters.put(getString(buffer), buffer.getLong());
            }
            int listenerCount = checkCount(buffer.getInt(), buffer);
            List<ControlStatus.Listener> listeners = new ArrayList<>(listenerCount);
            for (int k = 0; k < listenerCount; k++) {
                listeners.add(new ControlStatus.Listener(getProtocol(buffer), buffer.getInt()));
            }
            int queueCount = checkCount(buffer.getInt(), buffer);
            List<ControlStatus.QueueStatus> queues = new ArrayList<>(queueCount);
            for (int k = 0; k < queueCount; k++) {
                int index = buffer.getInt();
                int queueCounters = checkCount(buffer.getInt(), buffer);
                Map<String, Long> values = new LinkedHashMap<>();
                for (int c = 0; c < queueCounters; c++) {
                    values.put(getString(buffer), buffer.getLong());
                }
                queues.add(new ControlStatus.QueueStatus(index, values));
            }
            int filterCount = checkCount(buffer.getInt(), buffer);
            List<ControlStatus.Filter> filters = new ArrayList<>(filterCount);
            for (int k = 0; k < filterCount; k++) {
                filters.add(getFilter(buffer));
            }
            vnics.add(new ControlStatus.VnicStatus(id, name, vpid, uid, mac, address, limit, counters, listeners,
                    queues, filters));
        }
        int channelCount = checkCount(buffer.getInt(), buffer);
        List<ControlStatus.ChannelStatus> channels = new ArrayList<>(channelCount);
        for (int i = 0; i < channelCount; i++) {
            channels.add(new ControlStatus.ChannelStatus(buffer.getInt(), buffer.getInt(), buffer.getLong(),
                    buffer.getLong(), buffer.get() & 0xFF, buffer.get() & 0xFF));
        }
        int xdpCount = checkCount(buffer.getInt(), buffer);
        List<ControlStatus.XdpAttachment> xdp = new ArrayList<>(xdpCount);
        for (int i = 0; i < xdpCount; i++) {
            String namespace = getString(buffer);
            String interfaceName = getString(buffer);
            String mode = getString(buffer);
            int tenantCount = checkCount(buffer.getInt(), buffer);
            List<ControlStatus.XdpTenant> tenants = new ArrayList<>(tenantCount);
            for (int k = 0; k < tenantCount; k++) {
                int tenantPid = buffer.getInt();
                int queue = buffer.getInt();
                int address = buffer.getInt();
                int flowCount = checkCount(buffer.getInt(), buffer);
                List<FlowFilter> flows = new ArrayList<>(flowCount);
                for (int f = 0; f < flowCount; f++) {
                    flows.add(getXdpFlow(buffer));
                    buffer.getInt();
                }
                tenants.add(new ControlStatus.XdpTenant(tenantPid, queue, address, flows));
            }
            xdp.add(new ControlStatus.XdpAttachment(namespace, interfaceName, mode, tenants));
        }
        // No VSAs (or a control plane from before they were reported): the message ends here.
        int vsaCount = buffer.hasRemaining() ? checkCount(buffer.getInt(), buffer) : 0;
        List<ControlStatus.VsaStatus> vsas = new ArrayList<>(vsaCount);
        for (int i = 0; i < vsaCount; i++) {
            vsas.add(new ControlStatus.VsaStatus(getString(buffer), getString(buffer), buffer.getInt(),
                    buffer.getLong(), buffer.getLong(), buffer.getLong(), buffer.getInt()));
        }
        return new ControlStatus(pid, socket, subnet, attaches, detaches, vnics, channels, xdp, vsas);
    }

    private static int checkCount(int count, ByteBuffer buffer) throws ProtocolException {
        if (count < 0 || count > buffer.remaining()) {
            throw new ProtocolException("count " + count + " is impossible in the " + buffer.remaining()
                    + " bytes left of the control message");
        }
        return count;
    }
}
