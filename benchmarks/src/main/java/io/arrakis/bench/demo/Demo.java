package io.arrakis.bench.demo;

import java.io.IOException;

/**
 * What {@code ./dev demo} runs: the unmodified Redis-like server and load generator with and
 * without the agent ({@link RedisDemo}, about a minute). {@code --all} adds the earlier demos of
 * the layers underneath: the foundation's ring against pipes ({@link RingDemo}) and the
 * shared-memory switch against the kernel's loopback ({@link SwitchDemo}), about half a minute
 * more.
 */
public final class Demo {
    private Demo() {}

    public static void main(String[] args) throws Exception {
        boolean all = false;
        for (String arg : args) {
            switch (arg) {
                case "--all" -> all = true;
                default -> {
                    System.err.println("demo: unknown option '" + arg + "'; usage: ./dev demo [--all]"
                            + " (--all: also the ring and switch demos of the layers underneath)");
                    System.exit(2);
                }
            }
        }
        try {
            RedisDemo.run();
        } catch (IOException e) {
            // What failed and the child's output say it better than our stack trace.
            System.err.println("demo: " + e.getMessage());
            System.exit(1);
        }
        if (all) {
            System.out.println();
            RingDemo.main(new String[0]);
            System.out.println();
            SwitchDemo.run();
        }
    }
}
