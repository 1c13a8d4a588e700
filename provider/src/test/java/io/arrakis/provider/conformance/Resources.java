package io.arrakis.provider.conformance;

import java.util.ArrayDeque;
import java.util.Deque;

/** Everything a case opened, closed in reverse order when the case ends, whatever happened. Used by one thread. */
final class Resources implements AutoCloseable {
    private final Deque<AutoCloseable> opened = new ArrayDeque<>();

    <T extends AutoCloseable> T add(T resource) {
        opened.push(resource);
        return resource;
    }

    @Override
    public void close() {
        while (!opened.isEmpty()) {
            try {
                opened.pop().close();
            } catch (Exception ignored) {
                // a case that already closed it, or a channel the case broke on purpose
            }
        }
    }
}
