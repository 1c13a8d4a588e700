package io.arrakis.provider.net;

import java.util.concurrent.Callable;

/**
 * What a scenario observed, step by step: each step's value, or the class and message of what it
 * threw. Two implementations agree on a scenario when their transcripts are equal, so a
 * transcript must hold nothing that differs between runs (ports, timings).
 */
final class Transcript {
    private final StringBuilder text = new StringBuilder();

    /** Runs {@code action} and records its value or its exception under {@code name}; returns the value or null. */
    <T> T step(String name, Callable<T> action) {
        try {
            T value = action.call();
            record(name, String.valueOf(value));
            return value;
        } catch (Throwable t) {
            record(name, thrown(t));
            return null;
        }
    }

    /** Records an observation made by the scenario itself. */
    Transcript note(String name, Object value) {
        record(name, String.valueOf(value));
        return this;
    }

    /** The value {@code action} returns, or the class and message of what it throws. */
    static String outcomeOf(Callable<?> action) {
        try {
            return String.valueOf(action.call());
        } catch (Throwable t) {
            return thrown(t);
        }
    }

    static String thrown(Throwable t) {
        return t.getClass().getName() + ": " + t.getMessage();
    }

    private void record(String name, String value) {
        text.append(name).append(" -> ").append(value).append('\n');
    }

    @Override
    public String toString() {
        return text.toString();
    }
}
