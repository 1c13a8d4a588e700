package io.arrakis.device;

/**
 * What a VNIC may send: frames whose source MAC is {@code mac} and, for IPv4, whose source
 * address is {@code address} (host order). Anything else is spoofing and is dropped.
 * {@link #ANY} allows everything (a VNIC the kernel owns, or a test).
 */
public record TransmitFilter(MacAddress mac, int address) {
    public static final TransmitFilter ANY = new TransmitFilter(null, 0);

    public boolean allows(long sourceMac, int sourceAddress) {
        return (mac == null || mac.bits() == sourceMac) && (address == 0 || address == sourceAddress);
    }
}
