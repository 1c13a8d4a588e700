package io.arrakis.device;

import java.util.HexFormat;

/**
 * An Ethernet MAC address held in the low 48 bits of a long, so it can be compared, hashed and
 * written into frames without allocation. Immutable.
 */
public record MacAddress(long bits) {
    public static final MacAddress BROADCAST = new MacAddress(0xFFFF_FFFF_FFFFL);

    public MacAddress {
        if ((bits & ~0xFFFF_FFFF_FFFFL) != 0) {
            throw new IllegalArgumentException("MAC address has more than 48 bits: 0x" + Long.toHexString(bits));
        }
    }

    /** Parses {@code 02:00:00:00:00:01} (colons or dashes). */
    public static MacAddress parse(String text) {
        String hex = text.replace(":", "").replace("-", "");
        if (hex.length() != 12) {
            throw new IllegalArgumentException("not a MAC address (want six hex octets like 02:00:5e:00:00:01): "
                    + text);
        }
        try {
            return new MacAddress(HexFormat.fromHexDigitsToLong(hex));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("not a MAC address (want six hex octets like 02:00:5e:00:00:01): "
                    + text, e);
        }
    }

    /** A locally administered unicast address (bit 1 of the first octet set, bit 0 clear). */
    public static MacAddress locallyAdministered(long low40Bits) {
        return new MacAddress(0x0200_0000_0000L | (low40Bits & 0xFF_FFFF_FFFFL));
    }

    public boolean isMulticast() {
        return (bits & 0x0100_0000_0000L) != 0;
    }

    public byte octet(int index) {
        return (byte) (bits >>> (8 * (5 - index)));
    }

    @Override
    public String toString() {
        StringBuilder text = new StringBuilder(17);
        for (int i = 0; i < 6; i++) {
            if (i > 0) {
                text.append(':');
            }
            text.append(HexFormat.of().toHexDigits(octet(i)));
        }
        return text.toString();
    }
}
