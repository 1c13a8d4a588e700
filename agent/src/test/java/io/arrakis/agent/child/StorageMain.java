package io.arrakis.agent.child;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Knows nothing of Arrakis: appends a line to {@code <dir>/log.txt} through {@code FileChannel},
 * forces it, reads the file back and writes a file outside the directory, then prints what it saw
 * as {@code key=value} lines.
 */
public final class StorageMain {
    private StorageMain() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        Path outside = Path.of(args[1]);
        Files.createDirectories(dir);
        Path log = dir.resolve("log.txt");
        try (FileChannel channel = FileChannel.open(log, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.APPEND)) {
            channel.write(ByteBuffer.wrap((args[2] + "\n").getBytes(StandardCharsets.UTF_8)));
            channel.force(false);
            System.out.println("channel=" + channel.getClass().getName());
        }
        System.out.println("provider=" + FileSystems.getDefault().provider().getClass().getName());
        System.out.println("content=" + Files.readString(log).replace('\n', '|'));
        try (var listing = Files.list(dir)) {
            System.out.println("listing=" + listing.map(p -> p.getFileName().toString()).sorted().toList());
        }
        // What JConsole would show: the VSA's MBean, found by its domain and type only.
        var server = java.lang.management.ManagementFactory.getPlatformMBeanServer();
        for (var name : server.queryNames(new javax.management.ObjectName("io.arrakis:type=Vsa,*"), null)) {
            System.out.println("vsaForces=" + server.getAttribute(name, "FORCES"));
        }
        Files.writeString(outside, "plain");
        System.out.println("outside=" + Files.readString(outside));
    }
}
