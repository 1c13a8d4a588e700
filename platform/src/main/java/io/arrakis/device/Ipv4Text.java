package io.arrakis.device;

/** Dotted-quad text for IPv4 addresses held as ints in host order, for messages and tools. */
public final class Ipv4Text {
    private Ipv4Text() {}

    public static String format(int address) {
        return (address >>> 24) + "." + ((address >>> 16) & 0xFF) + "." + ((address >>> 8) & 0xFF) + "."
                + (address & 0xFF);
    }

    public static int parse(String text) {
        String[] parts = text.split("\\.", -1);
        if (parts.length != 4) {
            throw new IllegalArgumentException("not an IPv4 address (want a.b.c.d): " + text);
        }
        int address = 0;
        for (String part : parts) {
            int octet;
            try {
                octet = Integer.parseInt(part);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("not an IPv4 address (want a.b.c.d): " + text, e);
            }
            if (octet < 0 || octet > 255 || part.isEmpty() || part.length() > 3) {
                throw new IllegalArgumentException("not an IPv4 address (octet out of 0..255): " + text);
            }
            address = (address << 8) | octet;
        }
        return address;
    }
}
