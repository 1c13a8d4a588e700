package io.arrakis.cli;

import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** A child process for {@link VsaCommandsTest}: holds the lock file given, as a mounted process does, for up to 60 s. */
public final class LockHolder {
    private LockHolder() {}

    public static void main(String[] args) throws Exception {
        try (FileChannel channel = FileChannel.open(Path.of(args[0]), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE); FileLock lock = channel.lock()) {
            System.out.println("LOCKED");
            System.out.flush();
            Thread.sleep(60_000);
        }
    }
}
