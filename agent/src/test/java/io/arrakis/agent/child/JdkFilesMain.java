package io.arrakis.agent.child;

import java.net.URI;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import javax.net.ssl.SSLContext;

/**
 * Uses the JDK's own file-based machinery with whatever default file system the JVM has: the
 * security configuration and trust store (SSLContext), the jrt: file system, a zip file system
 * over a path of the default one, a walk of java.home, temp files, and File.toPath. Prints
 * {@code key=value} lines.
 */
public final class JdkFilesMain {
    private JdkFilesMain() {}

    public static void main(String[] args) throws Exception {
        System.out.println("provider=" + FileSystems.getDefault().provider().getClass().getName());
        System.out.println("tls=" + SSLContext.getDefault().getProtocol());
        FileSystem jrt = FileSystems.getFileSystem(URI.create("jrt:/"));
        System.out.println("jrt=" + Files.exists(jrt.getPath("modules", "java.base", "java/lang/Object.class")));
        Path conf = Path.of(System.getProperty("java.home"), "conf");
        try (Stream<Path> walk = Files.walk(conf)) {
            System.out.println("conf.files=" + (walk.filter(Files::isRegularFile).count() > 0));
        }
        Path zip = Files.createTempFile("arrakis-zip", ".zip");
        Files.delete(zip);
        try (FileSystem zipfs = FileSystems.newFileSystem(zip, Map.of("create", "true"))) {
            Files.writeString(zipfs.getPath("inside.txt"), "zipped");
        }
        try (FileSystem zipfs = FileSystems.newFileSystem(zip)) {
            System.out.println("zip=" + Files.readString(zipfs.getPath("inside.txt")));
        }
        Files.delete(zip);
        System.out.println("file.toPath=" + new java.io.File(args[0]).toPath().resolve("x").getParent()
                .equals(Path.of(args[0])));
    }
}
