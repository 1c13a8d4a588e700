package io.arrakis.cli;

import static io.arrakis.cli.ArrakisTest.arrakis;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.cli.ArrakisTest.Result;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code arrakis vsa ...} on temporary images with known contents, run in this JVM. */
class VsaCommandsTest {
    @TempDir
    Path directory;

    private Path image() {
        return directory.resolve("data.vsa");
    }

    /** An image holding a.txt (text) and b.bin (70,000 bytes of a pattern). */
    private void imageWithTwoFiles() throws IOException {
        Result created = arrakis("vsa", "create", image().toString(), "--size", "4m");
        assertEquals(0, created.status(), created.err());
        assertTrue(created.out().contains("1024 blocks of 4096"), created.out());
        Path a = Files.writeString(directory.resolve("a.txt"), "hello, VSA\n");
        Path b = Files.write(directory.resolve("b.bin"), pattern(70_000));
        Result imported = arrakis("vsa", "import", image().toString(), a.toString(), b.toString());
        assertEquals(0, imported.status(), imported.err());
        assertTrue(imported.out().contains("imported 2 files (70011 bytes)"), imported.out());
    }

    private static byte[] pattern(int length) {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = (byte) (i * 7 + i / 251);
        }
        return bytes;
    }

    @Test
    void lsListsFilesAndSizesAsTextAndJson() throws IOException {
        imageWithTwoFiles();
        Result ls = arrakis("vsa", "ls", image().toString());
        assertEquals(0, ls.status(), ls.err());
        assertTrue(ls.out().matches("(?s)\\s+11  a\\.txt\n\\s+70000  b\\.bin\n2 files, 70011 bytes of live data.*"),
                ls.out());
        Result json = arrakis("vsa", "ls", image().toString(), "--json");
        assertEquals(0, json.status(), json.err());
        @SuppressWarnings("unchecked")
        Map<String, Object> parsed = (Map<String, Object>) MiniJson.parse(json.out());
        assertEquals(image().toString(), parsed.get("image"));
        assertEquals(4096L, parsed.get("blockSize"));
        assertEquals(true, parsed.get("clean"));
        assertEquals(List.of(Map.of("name", "a.txt", "size", 11L), Map.of("name", "b.bin", "size", 70_000L)),
                parsed.get("files"));
    }

    @Test
    void importReplacesAFileOfTheSameName() throws IOException {
        imageWithTwoFiles();
        Path shorter = Files.writeString(Files.createDirectories(directory.resolve("sub")).resolve("a.txt"), "hi");
        assertEquals(0, arrakis("vsa", "import", image().toString(), shorter.toString()).status());
        Path out = directory.resolve("out");
        assertEquals(0, arrakis("vsa", "export", image().toString(), out.toString()).status());
        assertEquals("hi", Files.readString(out.resolve("a.txt")));
    }

    @Test
    void exportCopiesEveryFileOutAndNeverOverwrites() throws IOException {
        imageWithTwoFiles();
        Path out = directory.resolve("exported");
        Result export = arrakis("vsa", "export", image().toString(), out.toString());
        assertEquals(0, export.status(), export.err());
        assertEquals("hello, VSA\n", Files.readString(out.resolve("a.txt")));
        assertArrayEquals(pattern(70_000), Files.readAllBytes(out.resolve("b.bin")));
        Files.writeString(out.resolve("a.txt"), "mine");
        Result again = arrakis("vsa", "export", image().toString(), out.toString());
        assertEquals(1, again.status());
        assertTrue(again.oneLineError() && again.err().contains("a.txt") && again.err().contains("exists"), again.err());
        assertEquals("mine", Files.readString(out.resolve("a.txt")), "nothing was overwritten");
    }

    @Test
    void fsckOfAHealthyImageIsCleanWithExitZero() throws IOException {
        imageWithTwoFiles();
        Result fsck = arrakis("vsa", "fsck", image().toString());
        assertEquals(0, fsck.status(), fsck.out() + fsck.err());
        assertTrue(fsck.out().contains(": clean; 2 files; generation"), fsck.out());
        Result json = arrakis("vsa", "fsck", image().toString(), "--json");
        @SuppressWarnings("unchecked")
        Map<String, Object> parsed = (Map<String, Object>) MiniJson.parse(json.out());
        assertEquals(true, parsed.get("clean"));
        assertEquals(0L, parsed.get("recordsDropped"));
        assertEquals(null, parsed.get("stopReason"));
        assertTrue((Long) parsed.get("recordsKept") >= 4, json.out());
    }

    @Test
    void fsckReportsAFlippedByteWithExitThreeAndChangesNothing() throws IOException {
        imageWithTwoFiles();
        Path later = Files.writeString(directory.resolve("later.txt"), "written after b.bin");
        assertEquals(0, arrakis("vsa", "import", image().toString(), later.toString()).status());
        // Flip a byte inside b.bin's data record (found by its content), so later.txt's records follow the damage.
        byte[] bytes = Files.readAllBytes(image());
        byte[] needle = java.util.Arrays.copyOfRange(pattern(70_000), 1000, 1064);
        int at = indexOf(bytes, needle);
        assertTrue(at > 0, "b.bin's bytes are in the image");
        bytes[at] ^= 0x10;
        Files.write(image(), bytes);
        Result fsck = arrakis("vsa", "fsck", image().toString());
        assertEquals(VsaCommands.DAMAGED, fsck.status(), fsck.out() + fsck.err());
        assertTrue(fsck.out().contains("DAMAGED") && fsck.out().contains("fails its checksum"), fsck.out());
        Result json = arrakis("vsa", "fsck", image().toString(), "--json");
        assertEquals(VsaCommands.DAMAGED, json.status());
        @SuppressWarnings("unchecked")
        Map<String, Object> parsed = (Map<String, Object>) MiniJson.parse(json.out());
        assertEquals(false, parsed.get("clean"));
        assertTrue(((String) parsed.get("stopReason")).contains("checksum"), json.out());
        assertTrue((Long) parsed.get("recordsDropped") > 0, "later.txt's records are unreachable: " + json.out());
        assertArrayEquals(bytes, Files.readAllBytes(image()), "fsck is read-only");
        Result ls = arrakis("vsa", "ls", image().toString());
        assertTrue(ls.out().contains("not clean, see arrakis vsa fsck"), ls.out());
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    @Test
    void anUnknownImageIsOneLineAndExitOne() {
        for (String command : List.of("ls", "fsck")) {
            Result result = arrakis("vsa", command, directory.resolve("missing.vsa").toString());
            assertEquals(1, result.status(), command);
            assertTrue(result.oneLineError() && result.err().contains("missing.vsa")
                    && result.err().contains("arrakis vsa create"), result.err());
        }
        Result export = arrakis("vsa", "export", directory.resolve("missing.vsa").toString(), directory.toString());
        assertEquals(1, export.status());
        assertTrue(export.oneLineError(), export.err());
        assertFalse(Files.exists(directory.resolve("missing.vsa")), "nothing created by looking");
    }

    @Test
    void aFileThatIsNoImageIsOneLineAndExitOne() throws IOException {
        Path notAnImage = Files.write(directory.resolve("random.bin"), pattern(64 << 10));
        Result fsck = arrakis("vsa", "fsck", notAnImage.toString());
        assertEquals(1, fsck.status());
        assertTrue(fsck.oneLineError() && fsck.err().contains("holds no Arrakis log"), fsck.err());
    }

    @Test
    void createRefusesAnExistingImageAndBadSizes() throws IOException {
        imageWithTwoFiles();
        Result again = arrakis("vsa", "create", image().toString(), "--size", "4m");
        assertEquals(1, again.status());
        assertTrue(again.oneLineError() && again.err().contains("exists"), again.err());
        assertEquals(0, arrakis("vsa", "ls", image().toString()).status(), "the image is intact");
        Result badSize = arrakis("vsa", "create", directory.resolve("x.vsa").toString(), "--size", "lots");
        assertEquals(2, badSize.status());
        assertTrue(badSize.oneLineError() && badSize.err().contains("256m"), badSize.err());
        Result noSize = arrakis("vsa", "create", directory.resolve("x.vsa").toString());
        assertEquals(2, noSize.status());
        Result badBlock = arrakis("vsa", "create", directory.resolve("x.vsa").toString(), "--size", "1m",
                "--block-size", "3000");
        assertEquals(2, badBlock.status());
        assertFalse(Files.exists(directory.resolve("x.vsa")));
    }

    @Test
    void otherBlockSizesAreFoundFromTheSuperblock() throws IOException {
        Path image = directory.resolve("small-blocks.vsa");
        assertEquals(0, arrakis("vsa", "create", image.toString(), "--size", "1m", "--block-size", "512").status());
        Path file = Files.writeString(directory.resolve("x"), "x".repeat(5000));
        assertEquals(0, arrakis("vsa", "import", image.toString(), file.toString()).status());
        Result json = arrakis("vsa", "ls", image.toString(), "--json");
        @SuppressWarnings("unchecked")
        Map<String, Object> parsed = (Map<String, Object>) MiniJson.parse(json.out());
        assertEquals(512L, parsed.get("blockSize"));
        assertEquals(0, arrakis("vsa", "fsck", image.toString()).status());
    }

    @Test
    void anImageInUseIsRefusedForWritingNamingTheHolder() throws Exception {
        imageWithTwoFiles();
        Path lockFile = VsaCommands.lockFile(image());
        String java = ProcessHandle.current().info().command().orElse("java");
        Process holder = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                LockHolder.class.getName(), lockFile.toString()).redirectErrorStream(true).start();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(holder.getInputStream(),
                StandardCharsets.UTF_8))) {
            assertEquals("LOCKED", in.readLine());
            Path file = Files.writeString(directory.resolve("c.txt"), "c");
            Result imported = arrakis("vsa", "import", image().toString(), file.toString());
            assertEquals(1, imported.status());
            assertTrue(imported.oneLineError() && imported.err().contains("in use")
                    && imported.err().contains("process " + holder.pid()), imported.err());
            // Reading still works, with a warning naming the holder.
            Result ls = arrakis("vsa", "ls", image().toString());
            assertEquals(0, ls.status());
            assertTrue(ls.err().startsWith("arrakis: warning: ") && ls.err().contains("process " + holder.pid()),
                    ls.err());
            assertFalse(ls.out().contains("c.txt"));
        } finally {
            holder.destroyForcibly();
            holder.waitFor(10, TimeUnit.SECONDS);
        }
        Path file = Files.writeString(directory.resolve("c.txt"), "c");
        assertEquals(0, arrakis("vsa", "import", image().toString(), file.toString()).status(), "free again");
    }

    @Test
    void helpListsTheVsaCommands() {
        Result help = arrakis("vsa", "--help");
        assertEquals(0, help.status());
        for (String command : List.of("create", "ls", "fsck", "export", "import")) {
            assertTrue(help.out().contains("  " + command + " "), help.out());
        }
        Result createHelp = arrakis("vsa", "create", "--help");
        assertEquals(0, createHelp.status());
        assertTrue(createHelp.out().contains("--size"), createHelp.out());
        assertTrue(arrakis("--help").out().contains("vsa"));
    }
}
