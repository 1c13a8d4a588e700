package io.arrakis.provider.conformance;

import java.util.ArrayList;
import java.util.List;

/** Collects the cases of one category as they are defined. Used by one thread. */
final class Catalog {
    private final String category;
    private final List<Case> cases = new ArrayList<>();

    Catalog(String category) {
        this.category = category;
    }

    /** Adds a case; {@code expected} are the lines the oracle's trace must contain, in order. */
    void add(String name, Case.Body body, String... expected) {
        cases.add(new Case(category, name, body, List.of(expected)));
    }

    List<Case> cases() {
        return List.copyOf(cases);
    }
}
