package io.arrakis.stack.tcp;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The seeded simulation property: for many seeds, two engines exchange random payloads both ways
 * over a lossy, reordering, duplicating, corrupting network; every byte arrives exactly once and
 * in order, or the connection fails with the failure the other side caused, and no seed hangs.
 *
 * <p>Replay one seed with its segment trace:
 * {@code mvn -pl stack test -Dtest=TcpSimulationTest#replay -Dtcp.sim.seed=N} (add
 * {@code -Dtcp.sim.long=true} for a seed from the long run).
 */
class TcpSimulationTest {
    static final int DEFAULT_SEEDS = 2_000;
    static final int LONG_SEEDS = 50_000;

    @Test
    void everyByteArrivesOnceAndInOrderOrTheConnectionFailsAsThePeerCaused() {
        runSeeds(0, DEFAULT_SEEDS, TcpSimulation.DEFAULT);
    }

    @Test
    @Tag("long")
    void manyMoreSeedsWithLargerPayloads() {
        runSeeds(1_000_000, LONG_SEEDS, TcpSimulation.LONG);
    }

    /** Replays one seed with its trace: {@code -Dtest=TcpSimulationTest#replay -Dtcp.sim.seed=N}. */
    @Test
    @EnabledIfSystemProperty(named = "tcp.sim.seed", matches = "-?\\d+")
    void replay() {
        String seed = System.getProperty("tcp.sim.seed");
        TcpSimulation.Size size = Boolean.getBoolean("tcp.sim.long") ? TcpSimulation.LONG : TcpSimulation.DEFAULT;
        System.out.println(TcpSimulation.traceOf(Long.parseLong(seed), size, Integer.getInteger("tcp.sim.trace", 400)));
        TcpSimulation.Result r = TcpSimulation.run(Long.parseLong(seed), false, size);
        if (r.problem() != null) {
            fail(r.problem());
        }
    }

    private static void runSeeds(long first, int count, TcpSimulation.Size size) {
        long start = System.nanoTime();
        List<TcpSimulation.Result> failures = new ArrayList<>();
        long segments = 0;
        long retransmits = 0;
        long virtual = 0;
        long maxSteps = 0;
        for (long seed = first; seed < first + count; seed++) {
            TcpSimulation.Result r = TcpSimulation.run(seed, false, size);
            segments += r.segments();
            retransmits += r.retransmits();
            virtual += r.virtualNanos();
            maxSteps = Math.max(maxSteps, r.steps());
            if (r.problem() != null) {
                failures.add(r);
            }
        }
        long elapsed = System.nanoTime() - start;
        System.out.printf("TCP simulation: %d seeds from %d, %d failed, %.1f s wall, %.0f s virtual, %d segments,"
                + " %d retransmitted, max steps per seed %d%n", count, first, failures.size(), elapsed / 1e9,
                virtual / 1e9, segments, retransmits, maxSteps);
        if (!failures.isEmpty()) {
            StringBuilder sb = new StringBuilder(failures.size() + " of " + count + " seeds failed:\n");
            for (TcpSimulation.Result r : failures.subList(0, Math.min(20, failures.size()))) {
                sb.append("  seed ").append(r.seed()).append(": ").append(r.problem()).append("\n    ")
                        .append(r.description()).append('\n');
            }
            sb.append("replay one with: mvn -pl stack test -Dtest=TcpSimulationTest#replay -Dtcp.sim.seed=")
                    .append(failures.get(0).seed()).append(size == TcpSimulation.LONG ? " -Dtcp.sim.long=true" : "");
            fail(sb.toString());
        }
    }
}
