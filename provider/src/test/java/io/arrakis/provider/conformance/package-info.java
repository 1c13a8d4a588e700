/**
 * The differential conformance suite: every case runs on the JDK's own {@code SelectorProvider} (the
 * oracle) and on each subject of {@link io.arrakis.provider.conformance.Networks#subjects()}, and the two
 * normalised traces (return values, exception types and messages, channel and key states, option values)
 * must be equal line for line. Each case also pins, on the oracle, the documented JDK behaviour it is
 * about, so it checks something before any subject is plugged in.
 *
 * <p>Adding a subject: implement {@link io.arrakis.provider.conformance.Network} (its provider, the
 * address servers bind to and clients connect to, a port where nothing listens; override
 * {@code isBlockedIn} if its threads block in a way the default cannot see) and list it in
 * {@code Networks.subjects()}. Each case then shows up as {@code caseName [subject]}.
 *
 * <p>Categories (344 cases; {@code ConformanceTest.catalogHasAtLeast150DistinctCases} guards the floor):
 * <ul>
 * <li>{@code SocketChannel} (66): open state, bind (null, twice, unresolved, foreign address type, in use),
 *     blocking and non-blocking connect, finishConnect, pending-connection errors, connection refused,
 *     NotYetConnected, ClosedChannel after close, shutdownInput/Output and what the peer sees, end of
 *     stream, zero-length buffers, read-only and null buffers, scatter/gather with offsets and bad ranges,
 *     direct buffers, 1 MiB transfers, 1-byte non-blocking writes against a full peer window, writes to a
 *     peer that closed, connection reset, interrupt status set before blocking operations.
 * <li>{@code ServerSocketChannel} (20): bind, accept before bind, blocking and non-blocking accept,
 *     accept order, closed listeners, pending connections reset when the listener closes, rebinding a
 *     port with connections in TIME_WAIT, SO_REUSEADDR on by default.
 * <li>{@code DatagramChannel} (33): send/receive with the sender's address, implicit bind, truncation,
 *     empty datagrams, full buffers, connect/disconnect, connected read/write and scatter/gather,
 *     filtering by the connected peer, port 0, bad addresses, port unreachable, 60 000-byte datagrams,
 *     "Message too long", multicast join/drop and membership keys.
 * <li>{@code Pipe} (13): source and sink, end of stream, broken pipe, a full pipe, selection.
 * <li>{@code Selector} (54): registration errors (IllegalBlockingMode, IllegalArgument, ClosedChannel,
 *     ClosedSelector, IllegalSelector), key cancel and re-register before and after a select, cancelled
 *     key operations, key-set semantics (keys() immutable, selectedKeys() removal only), readiness for
 *     read, write, connect, accept and end of stream, wakeup before and during select, select(timeout),
 *     selectNow, select(Consumer) and its variants, interestOps and registration changes during a blocked
 *     select, one channel with two selectors, close and interrupt of a blocked select.
 * <li>{@code AsyncCloseAndInterrupt} (25): close, interrupt and shutdown from another thread during
 *     blocking read, accept, write, receive, pipe read/write, socket-stream read, ServerSocket accept and
 *     DatagramSocket receive: AsynchronousCloseException, ClosedByInterruptException, interrupt status and
 *     channel state afterwards.
 * <li>{@code SocketOptions} (39): the supported sets, defaults and round trips of SO_RCVBUF, SO_SNDBUF,
 *     TCP_NODELAY, SO_KEEPALIVE, SO_REUSEADDR, SO_REUSEPORT, SO_LINGER, IP_TOS, SO_BROADCAST,
 *     IP_MULTICAST_IF/TTL/LOOP on each channel type and through the adaptors; clamping (SO_LINGER),
 *     IllegalArgumentException for bad values and null, UnsupportedOperationException for options a
 *     channel type does not have; inheritance by accepted channels; port sharing.
 * <li>{@code SocketAdaptors} (35): {@code Socket}, {@code ServerSocket} and {@code DatagramSocket} from
 *     {@code socket()}: their state getters, streams, soTimeout (SocketTimeoutException), connect/bind
 *     through the adaptor and how channel exceptions are translated.
 * <li>{@code DatagramSockets} (45): {@code java.net.DatagramSocket}/{@code MulticastSocket} made as an
 *     application makes them ({@code Network.datagramSocket}: the JDK's constructors on the oracle, the
 *     agent's route through {@code openUninterruptibleDatagramChannel} on ours): state before and after
 *     bind, echo between bound and wildcard sockets, truncation, packet lengths, soTimeout, connect and
 *     disconnect, port unreachable, unresolved addresses, buffer sizes, broadcast, multicast membership,
 *     sending to a group, close during receive, and interrupt: a platform thread's receive goes on (socket open, status
 *     kept), a virtual thread's closes the socket ({@code SocketException: Closed by interrupt}).
 * <li>{@code VirtualThreads} (14): 1,000 virtual threads blocked in reads on their own connections, all
 *     released by data, while another virtual thread still runs (no carrier pinned); 100 blocked accepts;
 *     connect, write, select, pipe and datagram operations on virtual threads; interrupt and close.
 * </ul>
 */
package io.arrakis.provider.conformance;
