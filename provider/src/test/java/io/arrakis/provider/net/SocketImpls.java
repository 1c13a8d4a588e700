package io.arrakis.provider.net;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.channels.spi.SelectorProvider;

/** The two socket implementations a differential test compares: the JDK's own (the oracle) and ours over channels. */
enum SocketImpls {
    JDK {
        @Override
        Socket socket() {
            return new Socket();
        }

        @Override
        ServerSocket serverSocket() throws IOException {
            return new ServerSocket();
        }
    },
    CHANNELS {
        @Override
        Socket socket() throws IOException {
            return JavaNetHooks.newSocket(SelectorProvider.provider());
        }

        @Override
        ServerSocket serverSocket() throws IOException {
            return JavaNetHooks.newServerSocket(SelectorProvider.provider());
        }
    };

    abstract Socket socket() throws IOException;

    abstract ServerSocket serverSocket() throws IOException;
}
