package io.arrakis.provider;

import io.arrakis.device.Ipv4Text;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * The provider's settings, read once from system properties {@code arrakis.*} (which the agent
 * sets from its arguments and option file). Immutable.
 *
 * @param backend VNIC backend name ({@code shm} by default: the shared-memory switch)
 * @param backendOptions options passed to the backend ({@code arrakis.shm.socket} becomes {@code socket})
 * @param routes IPv4 prefixes whose addresses go to the user-level stack (as {address, prefixLength} pairs)
 * @param loopback whether connections to 127.0.0.1 go through the switch when a user-level listener exists
 * @param spinNanos how long a waiting thread polls the stack itself before it parks
 * @param capture the pcap file every frame of the VNIC is written to ({@code arrakis.capture}), or null
 * @param queues how many queues of the VNIC the process drives, one stack each ({@code arrakis.queues},
 *     1 by default): a selector is affine to one stack and the connections registered with it move there
 */
record ProviderConfig(String backend, Map<String, String> backendOptions, List<int[]> routes, boolean loopback,
        long spinNanos, String capture, int queues) {
    /** The most queues a process asks for (the shm switch's limit). */
    static final int MAX_QUEUES = 16;

    static final String PREFIX = "arrakis.";
    static final String DEFAULT_ROUTE = "198.18.0.0/15";

    static ProviderConfig fromSystemProperties() {
        return from(System.getProperties());
    }

    static ProviderConfig from(Properties properties) {
        String backend = properties.getProperty(PREFIX + "backend", "shm");
        Map<String, String> options = new java.util.HashMap<>();
        String optionPrefix = PREFIX + backend + ".";
        for (String name : properties.stringPropertyNames()) {
            if (name.startsWith(optionPrefix)) {
                options.put(name.substring(optionPrefix.length()), properties.getProperty(name));
            }
        }
        List<int[]> routes = new ArrayList<>();
        for (String route : properties.getProperty(PREFIX + "route", DEFAULT_ROUTE).split(",")) {
            if (!route.isBlank()) {
                routes.add(parsePrefix(route.strip()));
            }
        }
        boolean loopback = Boolean.parseBoolean(properties.getProperty(PREFIX + "loopback", "true"));
        long spin = parseDuration(PREFIX + "spin", properties.getProperty(PREFIX + "spin", "50us"));
        String capture = properties.getProperty(PREFIX + "capture");
        if (capture != null && capture.isBlank()) {
            capture = null;
        }
        int queues = parseQueues(properties.getProperty(PREFIX + "queues", "1"));
        return new ProviderConfig(backend, Map.copyOf(options), List.copyOf(routes), loopback, spin, capture, queues);
    }

    static int parseQueues(String text) {
        try {
            int n = Integer.parseInt(text.strip());
            if (n >= 1 && n <= MAX_QUEUES) {
                return n;
            }
        } catch (NumberFormatException e) {
            // said below
        }
        throw new IllegalArgumentException(PREFIX + "queues: '" + text + "' is not a number of queues from 1 to "
                + MAX_QUEUES + " (one user-level stack per queue; 1 runs one stack for the whole process)");
    }

    boolean routes(int address) {
        for (int[] route : routes) {
            int mask = route[1] == 0 ? 0 : -1 << (32 - route[1]);
            if ((address & mask) == (route[0] & mask)) {
                return true;
            }
        }
        return false;
    }

    static int[] parsePrefix(String text) {
        int slash = text.indexOf('/');
        try {
            int address = Ipv4Text.parse(slash < 0 ? text : text.substring(0, slash));
            int length = slash < 0 ? 32 : Integer.parseInt(text.substring(slash + 1));
            if (length < 0 || length > 32) {
                throw new NumberFormatException("prefix length " + length);
            }
            return new int[] {address, length};
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(PREFIX + "route: '" + text
                    + "' is not an IPv4 prefix like 198.18.0.0/15 (" + e.getMessage() + ")", e);
        }
    }

    /** "50us", "2ms", "0", "1000ns", "1s" → nanoseconds. */
    static long parseDuration(String name, String text) {
        String t = text.strip().toLowerCase(java.util.Locale.ROOT);
        long unit = 1;
        String digits = t;
        for (String[] suffix : new String[][] {{"ns", "1"}, {"us", "1000"}, {"ms", "1000000"}, {"s", "1000000000"}}) {
            if (t.endsWith(suffix[0])) {
                digits = t.substring(0, t.length() - suffix[0].length());
                unit = Long.parseLong(suffix[1]);
                break;
            }
        }
        try {
            long value = Long.parseLong(digits.strip());
            if (value < 0) {
                throw new NumberFormatException("negative");
            }
            return Math.multiplyExact(value, unit);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(name + ": '" + text + "' is not a duration like 50us, 2ms or 0", e);
        }
    }
}
