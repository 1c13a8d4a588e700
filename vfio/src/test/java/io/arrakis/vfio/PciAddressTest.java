package io.arrakis.vfio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PciAddressTest {
    @Test
    void parsesBothFormsAndPrintsTheSysfsForm() {
        assertEquals("0000:00:04.0", PciAddress.parse("0000:00:04.0").toString());
        assertEquals("0000:00:1f.7", PciAddress.parse("00:1F.7").toString());
        assertEquals(new PciAddress(0x10, 0xab, 0x1f, 3), PciAddress.parse("0010:ab:1f.3"));
    }

    @Test
    void rejectsWhatIsNotAnAddressNamingTheExpectedForm() {
        for (String bad : new String[] {"", "0000:00:04", "0000:00:20.0", "0000:00:04.8", "nvme0", "0:0:4.0"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PciAddress.parse(bad));
            assertTrue(e.getMessage().contains("domain:bus:device.function"), e.getMessage());
        }
    }
}
