package io.arrakis.provider;

/**
 * Where a connection goes: through {@code stack} to {@code address} (user-level), or to the
 * kernel ({@code stack} null). For a 127.0.0.1 connection accelerated through the switch,
 * {@code address} is the listening process's VNIC address, not 127.0.0.1.
 */
record Route(UserStack stack, int address) {
    static final Route KERNEL = new Route(null, 0);

    boolean kernel() {
        return stack == null;
    }
}
