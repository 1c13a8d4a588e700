package io.arrakis.control;

import io.arrakis.device.FlowFilter;
import io.arrakis.device.Ipv4Text;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The child process of the cross-process tests ({@link Child} starts it). Modes:
 * <ul>
 * <li>{@code serve SOCKET NAME [QUEUES]}: attaches an shm VNIC (of QUEUES queues, default 1; with
 *     more than one it steers TCP port 19 to queue 1, which nobody polls), runs a stack on queue 0
 *     with a UDP echo (port 7) and a TCP echo (port 9); on {@code CHECK udpCount maxSize tcpBytes}
 *     it pings and streams through the echo of every peer it knows and prints {@code CHECK-OK} or
 *     {@code CHECK-FAIL}.
 * <li>{@code announce SOCKET NAME tcp|udp PORT}: attaches an shm VNIC and announces that it
 *     listens on that port; {@code WITHDRAW} withdraws it and prints {@code WITHDRAWN}.
 * </ul>
 * Prints {@code READY ...} when it can be used; quits on {@code QUIT} or end of input.
 */
public final class ShmPeer {
    private ShmPeer() {}

    public static void main(String[] args) throws Exception {
        try {
            switch (args[0]) {
                case "serve" -> serve(Path.of(args[1]), args[2], args.length > 3 ? Integer.parseInt(args[3]) : 1);
                case "announce" -> announce(Path.of(args[1]), args[2],
                        FlowFilter.Protocol.valueOf(args[3].toUpperCase(Locale.ROOT)), Integer.parseInt(args[4]));
                default -> throw new IllegalArgumentException("unknown mode " + args[0]);
            }
        } catch (Throwable t) {
            System.out.println("FAILED " + t);
            t.printStackTrace(System.out);
            System.out.flush();
            System.exit(1);
        }
        System.out.println("BYE");
        System.out.flush();
        System.exit(0);
    }

    private static void announce(Path socket, String name, FlowFilter.Protocol protocol, int port) throws Exception {
        try (ShmVnic vnic = ShmTesting.open(socket, name)) {
            vnic.announceListener(protocol, port);
            System.out.println("READY id=" + vnic.id() + " ip=" + Ipv4Text.format(vnic.address()) + " pid="
                    + ProcessHandle.current().pid());
            System.out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            for (String line; (line = in.readLine()) != null && !line.equals("QUIT"); ) {
                if (line.equals("WITHDRAW")) {
                    vnic.withdrawListener(protocol, port);
                    System.out.println("WITHDRAWN");
                    System.out.flush();
                }
            }
        }
    }

    private static void serve(Path socket, String name, int queues) throws Exception {
        try (ShmVnic vnic = ShmTesting.open(socket, name, 1024, queues);
                StackRunner runner = StackRunner.start(vnic, ShmTesting.stackConfig(vnic), ProcessHandle.current().pid())) {
            if (queues > 1) {
                vnic.control().addReceiveFilter(new FlowFilter(FlowFilter.Protocol.TCP, vnic.address(), 19, 0, 0), 1);
            }
            runner.serve(new Workloads.UdpEcho(Workloads.UDP_ECHO_PORT));
            runner.serve(new Workloads.TcpEchoServer(Workloads.TCP_ECHO_PORT));
            System.out.println("READY id=" + vnic.id() + " ip=" + Ipv4Text.format(vnic.address()) + " mac=" + vnic.mac()
                    + " pid=" + ProcessHandle.current().pid() + " queues=" + vnic.queueCount() + " filters="
                    + vnic.control().receiveFilters().size());
            System.out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            int round = 0;
            for (String line; (line = in.readLine()) != null && !line.equals("QUIT"); ) {
                String[] words = line.split(" ");
                if (words[0].equals("CHECK")) {
                    System.out.println(check(vnic, runner, round++, Integer.parseInt(words[1]),
                            Integer.parseInt(words[2]), Long.parseLong(words[3])));
                    System.out.flush();
                }
            }
        }
    }

    /** Pings and streams through the echo of every known peer at once; one line of verdict. */
    private static String check(ShmVnic vnic, StackRunner runner, int round, int udpCount, int maxSize, long tcpBytes)
            throws Exception {
        List<ShmVnic.Peer> peers = vnic.peers();
        List<Workloads.UdpPinger> pingers = new ArrayList<>();
        List<Workloads.TcpEchoCheck> streams = new ArrayList<>();
        for (int i = 0; i < peers.size(); i++) {
            int peer = peers.get(i).address();
            long seed = ProcessHandle.current().pid() * 31 + peer;
            var pinger = new Workloads.UdpPinger(peer, Workloads.UDP_ECHO_PORT, 30_000 + round * 200 + i, udpCount,
                    maxSize, seed);
            var stream = new Workloads.TcpEchoCheck(peer, Workloads.TCP_ECHO_PORT, tcpBytes, seed);
            pingers.add(pinger);
            streams.add(stream);
            runner.everyPoll(pinger);
            runner.everyPoll(stream);
        }
        boolean done = runner.await(s -> pingers.stream().allMatch(Workloads.UdpPinger::done)
                && streams.stream().allMatch(Workloads.TcpEchoCheck::done), Duration.ofSeconds(120));
        return runner.call((stack, tcp) -> {
            StringBuilder problems = new StringBuilder();
            for (int i = 0; i < peers.size(); i++) {
                if (!pingers.get(i).done() || pingers.get(i).mismatches > 0) {
                    problems.append(" [").append(pingers.get(i).describe()).append(']');
                }
                if (!streams.get(i).exact()) {
                    problems.append(" [").append(streams.get(i).describe()).append(']');
                }
            }
            for (int i = 0; i < peers.size(); i++) {
                runner.removeHook(pingers.get(i));
                runner.removeHook(streams.get(i));
            }
            return done && problems.isEmpty() ? "CHECK-OK peers=" + peers.size()
                    : "CHECK-FAIL peers=" + peers.size() + problems;
        });
    }
}
