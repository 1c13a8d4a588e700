package io.arrakis.samples.memcached;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The same inputs, well-formed and not, sent to the real memcached (Debian's, installed by ./dev)
 * and to ours: the replies must be byte for byte the same (CAS values aside), and so must whether
 * the connection survives. One known difference is left out: when a get names an over-long key,
 * memcached also drops the replies of earlier commands still queued on the connection; ours drops
 * only that get's own partial answer.
 */
class RealMemcachedComparisonTest {
    private static final String K250 = "k".repeat(250);
    private static final String K251 = "k".repeat(251);

    private static List<String> probes() {
        List<String> p = new ArrayList<>(List.of(
                "foo\r\n", "GET x\r\n", "\r\n", "\u0000\u0001\r\n", "get\r\n", "gat\r\n", "gat 10\r\n", "gat abc k\r\n",
                "set k 0 0 5\r\nhello\r\nget k\r\ngets k\r\n", "set k 0 0 5\r\nhelloX\r\nget k\r\n",
                "set k 0 0 -1\r\nget k\r\n", "set k 0 0 abc\r\n", "set k 0 0\r\n", "set k abc 0 1\r\nx\r\n",
                "set k 4294967297 0 1\r\nx\r\nget k\r\n", "set k +5 0 01\r\nx\r\nget k\r\n",
                "set k 0 0 1 \r\nx\r\n", "set k 0 0 1 noreply extra\r\na\r\n", "set k 0 0 1 extra\r\na\r\n",
                "set k 0 0 5 noreply\r\nhelloXX\r\nget k\r\n", "set k 0 0 1\nx\n\r\n", "set k 0 0 1\r\nxy\r\n",
                "set e 0 0 0\r\n\r\nget e\r\n", "set t 0 -1 1\r\na\r\nget t\r\n",
                "set " + K251 + " 0 0 1\r\nx\r\n", "get " + K251 + "\r\n", "get " + K250 + "\r\n",
                "delete " + K251 + "\r\n", "incr " + K251 + " 1\r\n", "touch " + K251 + " 1\r\n",
                "delete k 5\r\n", "delete k 0\r\n", "delete k noreply\r\nget k\r\n", "delete\r\n", "delete a b c d\r\n",
                "set x 0 0 2\r\nab\r\nappend x 5 0 2\r\ncd\r\nprepend x 0 0 2\r\nzz\r\nget x\r\nappend nope 0 0 1\r\na\r\n"
                        + "add x 0 0 1\r\na\r\nreplace nope 0 0 1\r\na\r\nreplace x 3 0 1\r\nr\r\nget x\r\n",
                "set c 0 0 1\r\n1\r\ncas c 0 0 1 999999\r\na\r\ncas nope 0 0 1 1\r\na\r\ncas c 0 0 1 -1\r\n3\r\n"
                        + "cas k 0 0 1\r\n",
                "set n 0 0 2\r\n10\r\ndecr n 1\r\nget n\r\nincr n 5\r\nincr n abc\r\nincr n -1\r\nincr nope 1\r\n",
                "set w 0 0 20\r\n18446744073709551615\r\nincr w 1\r\nget w\r\nincr w 18446744073709551616\r\ndecr w 5\r\n",
                "set a 0 0 1\r\n5\r\nincr a 18446744073709551615\r\ndecr a 18446744073709551615\r\n",
                "set a 0 0 3\r\n-12\r\nincr a 1\r\nset a 0 0 3\r\n 12\r\nincr a 1\r\nset a 0 0 3\r\n12a\r\nincr a 1\r\n",
                "set a 0 0 22\r\n1234567890123456789012\r\nincr a 1\r\nset a 0 0 2\r\nab\r\ndecr a 1\r\n",
                "set x 0 0 1\r\n1\r\nincr x 01\r\nincr x +1\r\nincr x  2\r\nincr x\r\ndecr x 1 2\r\n",
                "set x 0 0 1\r\na\r\ntouch x 100\r\ntouch nope 1\r\ntouch x abc\r\ntouch x 1 2 3\r\ngat 100 x nope\r\n",
                "verbosity\r\nverbosity 1\r\nverbosity 1 2 3\r\nverbosity noreply\r\nverbosity abc\r\n",
                "flush_all abc\r\nflush_all 0\r\nflush_all 10 noreply\r\nflush_all -1\r\nflush_all 1 2\r\n"
                        + "flush_all noreply extra\r\nflush_all\r\nflush_all noreply\r\n",
                "stats foo\r\nstats reset\r\n", "get x\nget x\r\n", "get  x \r\n", "version x\r\n",
                "incr a 1 noreply\r\ndelete k 0 noreply\r\n", "quit\r\nversion\r\n", "quit now\r\n",
                "set " + "a".repeat(3000) + "\r\n", "get " + "a ".repeat(1500) + "\r\n", "set " + "a".repeat(3000)));
        int largest = 1024 * 1024 - 59 - 3;
        p.add("set big 0 0 " + largest + "\r\n" + "v".repeat(largest) + "\r\nget nothing\r\n");
        p.add("set big 0 0 1\r\nx\r\nset big 0 0 " + (largest + 1) + "\r\n" + "v".repeat(largest + 1) + "\r\nget big\r\n");
        p.add("set k 0 0 2000000\r\n" + "v".repeat(2_000_000) + "\r\nget k\r\n");
        return p;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static Path memcachedBinary() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "memcached"))) {
                return Path.of(dir, "memcached");
            }
        }
        for (String candidate : new String[] {"/usr/bin/memcached", "/usr/local/bin/memcached"}) {
            if (Files.isExecutable(Path.of(candidate))) {
                return Path.of(candidate);
            }
        }
        return null;
    }

    /** Sends one probe (then "version" as a marker) on a new connection; the replies, and whether it closed. */
    private static String exchange(int port, String probe) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            socket.setSoTimeout(3000);
            boolean endsOpen = !probe.startsWith("quit") && probe.endsWith("\n");
            socket.getOutputStream().write((probe + (endsOpen ? "version\r\n" : "")).getBytes(StandardCharsets.ISO_8859_1));
            socket.getOutputStream().flush();
            InputStream in = socket.getInputStream();
            int versions = 1 + count("\n" + probe, "\nversion");
            ByteArrayOutputStream reply = new ByteArrayOutputStream();
            byte[] buffer = new byte[65536];
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (System.nanoTime() < deadline) {
                if (endsOpen && count(reply.toString(StandardCharsets.ISO_8859_1), "VERSION 1.6.18\r\n") >= versions) {
                    break; // the marker's reply has come
                }
                int n;
                try {
                    n = in.read(buffer);
                } catch (SocketTimeoutException e) {
                    reply.write("<silent>".getBytes(StandardCharsets.ISO_8859_1));
                    break;
                } catch (IOException e) {
                    reply.write("<reset>".getBytes(StandardCharsets.ISO_8859_1));
                    break;
                }
                if (n < 0) {
                    reply.write("<closed>".getBytes(StandardCharsets.ISO_8859_1));
                    break;
                }
                reply.write(buffer, 0, n);
            }
            String text = reply.toString(StandardCharsets.ISO_8859_1);
            text = text.replaceAll("(VALUE \\S+ \\d+ \\d+) \\d+\r\n", "$1 <cas>\r\n");
            return text.length() > 400 ? text.substring(0, 200) + "..." + text.substring(text.length() - 150) : text;
        }
    }

    private static int count(String text, String part) {
        int n = 0;
        for (int i = text.indexOf(part); i >= 0; i = text.indexOf(part, i + 1)) {
            n++;
        }
        return n;
    }

    private static void flush(int port) throws IOException {
        assertEquals("OK\r\n", exchange(port, "flush_all\r\n").replace("VERSION 1.6.18\r\n", ""));
    }

    @Test
    void repliesAsTheRealMemcachedDoes() throws Exception {
        Path binary = memcachedBinary();
        assertNotNull(binary, "memcached is not installed: ./dev installs it (apt-get install memcached)");
        int realPort = freePort();
        List<String> command = new ArrayList<>(List.of(binary.toString(), "-l", "127.0.0.1", "-p",
                Integer.toString(realPort), "-U", "0", "-t", "2", "-m", "64"));
        if ("root".equals(System.getProperty("user.name"))) {
            command.addAll(List.of("-u", "root"));
        }
        Process real = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        try (MemcachedServer ours = MemcachedServer.start(new MemcachedConfig().port(0).threads(2))) {
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (true) {
                try (Socket probe = new Socket("127.0.0.1", realPort)) {
                    break;
                } catch (IOException e) {
                    assertTrue(real.isAlive(), "memcached exited with " + (real.isAlive() ? "" : real.exitValue()));
                    assertTrue(System.nanoTime() < deadline, "memcached did not start listening on " + realPort);
                    Thread.sleep(50);
                }
            }
            List<String> differences = new ArrayList<>();
            for (String probe : probes()) {
                flush(realPort);
                flush(ours.port());
                String expected = exchange(realPort, probe);
                String actual = exchange(ours.port(), probe);
                if (!expected.equals(actual)) {
                    String shown = probe.length() > 80 ? probe.substring(0, 80) + "..." : probe;
                    differences.add("probe " + shown.replace("\r\n", "\\r\\n").replace("\n", "\\n")
                            + "\n  memcached: " + expected.replace("\r\n", "\\r\\n")
                            + "\n  ours:      " + actual.replace("\r\n", "\\r\\n"));
                }
            }
            assertTrue(differences.isEmpty(), differences.size() + " of " + probes().size() + " probes differ:\n"
                    + String.join("\n", differences));
        } finally {
            real.destroy();
            if (!real.waitFor(5, TimeUnit.SECONDS)) {
                real.destroyForcibly();
                real.waitFor(5, TimeUnit.SECONDS);
            }
        }
    }
}
