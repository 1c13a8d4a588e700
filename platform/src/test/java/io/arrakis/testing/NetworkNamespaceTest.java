package io.arrakis.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class NetworkNamespaceTest {
    @Test
    void aNamespaceAndTheVethItCreatedAreGoneAfterClose() throws Exception {
        String name;
        NetworkNamespace.Veth veth;
        try (NetworkNamespace namespace = NetworkNamespace.create()) {
            name = namespace.name();
            assertTrue(name.startsWith(NetworkNamespace.PREFIX), name);
            assertTrue(NetworkNamespace.exists(name));
            veth = namespace.createVeth();
            assertTrue(veth.hostEnd().length() <= 15, veth.hostEnd());
            assertTrue(NetworkNamespace.hostHasLink(veth.hostEnd()));
            assertTrue(namespace.hasLink(veth.innerEnd()));
            assertFalse(NetworkNamespace.hostHasLink(veth.innerEnd()), "the inner end never was in the host");
            namespace.addAddress(veth.innerEnd(), "198.19.7.1/24");
            namespace.setUp(veth.innerEnd());
            assertTrue(namespace.ip("-o", "address", "show", "dev", veth.innerEnd()).stdout().contains("198.19.7.1/24"));
        }
        assertFalse(NetworkNamespace.exists(name));
        assertFalse(NetworkNamespace.hostHasLink(veth.hostEnd()));
    }

    @Test
    void twoNamespacesInOneRunHaveDifferentNames() throws Exception {
        try (NetworkNamespace a = NetworkNamespace.create(); NetworkNamespace b = NetworkNamespace.create()) {
            assertFalse(a.name().equals(b.name()));
        }
    }

    @Test
    void addressesOutsideTheBenchmarkingRangeAreRefused() throws Exception {
        try (NetworkNamespace namespace = NetworkNamespace.create()) {
            for (String cidr : List.of("10.0.0.1/24", "192.168.1.1/24", "198.20.0.1/24", "198.18.0.1/8", "198.18.0.1")) {
                assertThrows(IllegalArgumentException.class, () -> namespace.addAddress("lo", cidr), cidr);
            }
            assertThrows(IllegalArgumentException.class, () -> namespace.addNeighbour("lo", "8.8.8.8", "02:00:00:00:00:01"));
        }
    }

    @Test
    void leftoversOfADeadRunAreRemovedAndLiveNamespacesKept() throws Exception {
        try (NetworkNamespace live = NetworkNamespace.create()) {
            // A PID that is certainly not running: one that just exited.
            Process gone = new ProcessBuilder("true").start();
            gone.waitFor();
            String leftover = NetworkNamespace.PREFIX + gone.pid() + "-abc123-1";
            NetworkNamespace.run(List.of("ip", "netns", "add", leftover)).orThrow();
            try {
                List<String> removed = NetworkNamespace.removeLeftovers();
                assertTrue(removed.contains(leftover), removed.toString());
                assertFalse(NetworkNamespace.exists(leftover));
                assertTrue(NetworkNamespace.exists(live.name()), "our own live namespace is kept");
                assertFalse(removed.contains(live.name()));
            } finally {
                NetworkNamespace.run(List.of("ip", "netns", "delete", leftover));
            }
        }
    }

    @Test
    void aCommandThatOverrunsIsEndedAndReported() throws Exception {
        try (NetworkNamespace namespace = NetworkNamespace.create()) {
            long start = System.nanoTime();
            IOException e = assertThrows(IOException.class, () -> NetworkNamespace.run(
                    List.of("ip", "netns", "exec", namespace.name(), "sleep", "30"), Duration.ofMillis(200)));
            assertTrue(e.getMessage().contains("did not finish"), e.getMessage());
            assertTrue(System.nanoTime() - start < 5_000_000_000L);
            NetworkNamespace.Background server = namespace.start("sleep", "30");
            assertTrue(server.isAlive());
            namespace.close();
            assertFalse(server.isAlive(), "closing the namespace ended what it started");
            assertEquals(false, NetworkNamespace.exists(namespace.name()));
        }
    }
}
