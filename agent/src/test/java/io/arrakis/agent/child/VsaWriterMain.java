package io.arrakis.agent.child;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Knows nothing of Arrakis: says {@code ready}, then for each line {@code write N} on standard
 * input appends N bytes to {@code <dir>/data} through {@code FileChannel}, forces them and says
 * {@code written=N}; ends when standard input closes.
 */
public final class VsaWriterMain {
    private VsaWriterMain() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        Files.createDirectories(dir);
        System.out.println("ready");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            if (!line.startsWith("write ")) {
                continue;
            }
            int bytes = Integer.parseInt(line.substring("write ".length()).trim());
            try (FileChannel channel = FileChannel.open(dir.resolve("data"), StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
                ByteBuffer buffer = ByteBuffer.allocate(bytes);
                while (buffer.hasRemaining()) {
                    buffer.put((byte) buffer.position());
                }
                buffer.flip();
                while (buffer.hasRemaining()) {
                    channel.write(buffer);
                }
                channel.force(false);
            }
            System.out.println("written=" + bytes);
            System.out.flush();
        }
    }
}
