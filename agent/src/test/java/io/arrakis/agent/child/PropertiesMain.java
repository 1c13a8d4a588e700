package io.arrakis.agent.child;

import java.util.TreeSet;

/** Prints the {@code arrakis.*} system properties and the provider property, as {@code key=value} lines. */
public final class PropertiesMain {
    public static void main(String[] args) {
        for (String name : new TreeSet<>(System.getProperties().stringPropertyNames())) {
            if (name.startsWith("arrakis.") || name.equals("java.nio.channels.spi.SelectorProvider")) {
                System.out.println(name + "=" + System.getProperty(name));
            }
        }
        System.out.println("done=true");
    }
}
