/**
 * The stack's test instruments, below the stack and above the device SPI: a {@link
 * io.arrakis.stack.link.Clock} the stack reads time from, {@link io.arrakis.stack.link.VirtualClock
 * virtual time}, a {@link io.arrakis.stack.link.SimulatedLink point-to-point link} with seeded
 * {@link io.arrakis.stack.link.LinkFaults faults} whose two ends are {@link io.arrakis.device.Vnic}s,
 * and pcap capture ({@link io.arrakis.stack.link.PcapWriter}, {@link
 * io.arrakis.stack.link.CaptureVnic}) that tcpdump, tshark and Wireshark read.
 *
 * <p>A deterministic simulation runs two stacks in one thread and never blocks; it advances time:
 * <pre>{@code
 * VirtualClock clock = new VirtualClock();
 * LinkFaults faults = LinkFaults.NONE.withSeed(42).withLatency(50_000).withRate(1_000_000_000)
 *         .withQueueLimit(64).withLoss(0.01);
 * try (SimulatedLink link = new SimulatedLink(clock, faults)) {
 *     Stack a = new Stack(link.a()), b = new Stack(link.b());
 *     while (!done()) {
 *         a.poll(clock.now());
 *         b.poll(clock.now());
 *         long next = Math.min(link.nextEventTime(), Math.min(a.nextDeadline(), b.nextDeadline()));
 *         if (next == Long.MAX_VALUE) break;          // nothing can ever happen again
 *         link.advanceTo(Math.max(next, clock.now())); // jump, then deliver what is due
 *     }
 * }
 * }</pre>
 */
package io.arrakis.stack.link;
