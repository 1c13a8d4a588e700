package io.arrakis.agent.child;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;

/**
 * An unmodified blocking echo server written against java.net: {@code new ServerSocket(0)}, one
 * thread per connection (platform threads, or virtual ones with argument {@code virtual}).
 * Prints {@code READY <port>}.
 */
public final class ThreadPerConnectionServerMain {
    public static void main(String[] args) throws Exception {
        boolean virtual = args.length > 0 && args[0].equals("virtual");
        try (ServerSocket server = new ServerSocket(0)) {
            System.out.println("READY " + server.getLocalPort());
            System.out.flush();
            while (true) {
                Socket socket = server.accept();
                Runnable echo = () -> {
                    try (socket; InputStream in = socket.getInputStream(); OutputStream out = socket.getOutputStream()) {
                        byte[] buffer = new byte[8192];
                        int n;
                        while ((n = in.read(buffer)) > 0) {
                            out.write(buffer, 0, n);
                        }
                    } catch (Exception e) {
                        // the client went away
                    }
                };
                if (virtual) {
                    Thread.ofVirtual().start(echo);
                } else {
                    Thread.ofPlatform().daemon().start(echo);
                }
            }
        }
    }
}
