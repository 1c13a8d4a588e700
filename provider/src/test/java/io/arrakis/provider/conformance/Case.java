package io.arrakis.provider.conformance;

import java.util.List;

/**
 * One conformance case: a body that exercises a network and records a {@link Trace}, and the lines
 * its trace must contain on the oracle (in order, not necessarily adjacent), which pin the documented
 * JDK behaviour the case is about. Immutable.
 */
record Case(String category, String name, Body body, List<String> expected) {

    /** The case itself: acts on {@code network}, records into {@code trace}. */
    @FunctionalInterface
    interface Body {
        void run(Network network, Trace trace) throws Exception;
    }

    @Override
    public String toString() {
        return category + "/" + name;
    }
}
