package io.arrakis.bench.demo;

import java.io.IOException;

/**
 * What {@code ./dev demo} runs: the foundation's ring against pipes ({@link RingDemo}), then the
 * shared-memory switch against the kernel's loopback ({@link SwitchDemo}); about half a minute.
 */
public final class Demo {
    private Demo() {}

    public static void main(String[] args) throws IOException {
        RingDemo.main(args);
        System.out.println();
        SwitchDemo.run();
    }
}
