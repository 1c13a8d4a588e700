package io.arrakis.vfio;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A PCI function's address, {@code domain:bus:device.function} ({@code 0000:00:04.0}), as sysfs
 * and VFIO name it. {@code 00:04.0} (as {@code lspci} prints it) is accepted and gets domain 0.
 * Immutable.
 */
record PciAddress(int domain, int bus, int device, int function) {
    private static final Pattern FORM = Pattern.compile(
            "(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\\.([0-7])");

    PciAddress {
        if (domain < 0 || domain > 0xffff || bus < 0 || bus > 0xff || device < 0 || device > 0x1f || function < 0
                || function > 7) {
            throw new IllegalArgumentException("PCI address out of range: domain " + domain + ", bus " + bus
                    + ", device " + device + ", function " + function);
        }
    }

    static PciAddress parse(String text) {
        Matcher m = text == null ? null : FORM.matcher(text.trim());
        if (m == null || !m.matches() || Integer.parseInt(m.group(3), 16) > 0x1f) {
            throw new IllegalArgumentException("\"" + text + "\" is not a PCI address; expected domain:bus:device.function"
                    + " in hexadecimal, such as 0000:00:04.0 (lspci -D lists them)");
        }
        int domain = m.group(1) == null ? 0 : Integer.parseInt(m.group(1), 16);
        return new PciAddress(domain, Integer.parseInt(m.group(2), 16), Integer.parseInt(m.group(3), 16),
                Integer.parseInt(m.group(4)));
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%04x:%02x:%02x.%x", domain, bus, device, function);
    }
}
