package io.arrakis.provider.conformance;

import java.util.List;

/** The oracle and the subjects checked against it. */
final class Networks {
    private Networks() {
    }

    /** The JDK's own provider in this JVM ({@code SelectorProvider.provider()}): what "correct" means. */
    static Network oracle() {
        return new JdkNetwork("jdk");
    }

    /**
     * The providers checked against the oracle, each case run once on each. This is the one place to
     * add a subject: e.g. {@code new ArrakisNetwork()} for "arrakis". The JDK again, as an independent
     * instance, keeps the harness honest: a case whose trace is not deterministic fails against it.
     */
    static List<Network> subjects() {
        return List.of(new JdkNetwork("jdk-as-subject"), new ArrakisNetwork());
    }
}
