package io.arrakis.agent.child;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Knows nothing of Arrakis but a system property to wait for: writes to files in {@code <dir>}
 * and never forces. {@code write <dir> <property> <lines> exit|term}: appends {@code main} to
 * {@code exit.txt}, then a shutdown hook of its own waits until {@code <property>} is set (the
 * agent's exit hook ran first) and appends {@code late-<i>} {@code <lines>} times to
 * {@code exit.txt} and writes {@code late.txt}, a new file; with {@code exit} the program then
 * calls {@code System.exit(0)}, with {@code term} it prints {@code ready} and waits for a signal.
 * {@code read <dir>}: prints {@code exit.txt=} and {@code late.txt=} with their contents
 * (newlines as {@code |}).
 */
public final class StorageExitMain {
    private StorageExitMain() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[1]);
        if (args[0].equals("read")) {
            for (String name : new String[] {"exit.txt", "late.txt"}) {
                Path file = dir.resolve(name);
                System.out.println(name + "=" + (Files.exists(file) ? Files.readString(file).replace('\n', '|') : "absent"));
            }
            return;
        }
        String property = args[2];
        int lines = Integer.parseInt(args[3]);
        Files.createDirectories(dir);
        append(dir.resolve("exit.txt"), "main\n");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                long deadline = System.nanoTime() + 20_000_000_000L;
                while (System.getProperty(property) == null) {
                    if (System.nanoTime() > deadline) {
                        System.err.println("child: " + property + " was never set: the agent's exit hook did not run");
                        Runtime.getRuntime().halt(3);
                    }
                    Thread.sleep(1);
                }
                for (int i = 0; i < lines; i++) {
                    append(dir.resolve("exit.txt"), "late-" + i + "\n");
                }
                Files.writeString(dir.resolve("late.txt"), "written after the agent's hook");
            } catch (Exception e) {
                System.err.println("child: a write in the shutdown hook failed: " + e);
                Runtime.getRuntime().halt(4);
            }
        }, "child-late-writer"));
        if (args[4].equals("exit")) {
            System.exit(0);
        }
        System.out.println("ready");
        System.out.flush();
        Thread.sleep(60_000);
        System.exit(5); // the test never signalled
    }

    private static void append(Path file, String text) throws java.io.IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.APPEND)) {
            ByteBuffer bytes = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
            while (bytes.hasRemaining()) {
                channel.write(bytes);
            }
        }
    }
}
