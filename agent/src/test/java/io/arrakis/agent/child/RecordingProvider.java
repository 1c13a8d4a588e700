package io.arrakis.agent.child;

import io.arrakis.provider.ArrakisSelectorProvider;
import io.arrakis.provider.net.DatagramSocketHook;
import java.io.IOException;
import java.nio.channels.DatagramChannel;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** Our provider, recording each datagram channel it opens and whether java.net.DatagramSocket asked for it. */
public class RecordingProvider extends ArrakisSelectorProvider {
    public static final List<Boolean> DATAGRAM_CHANNELS_FOR_SOCKETS = new CopyOnWriteArrayList<>();

    @Override
    public DatagramChannel openDatagramChannel() throws IOException {
        DATAGRAM_CHANNELS_FOR_SOCKETS.add(DatagramSocketHook.creatingDatagramSocket());
        return super.openDatagramChannel();
    }
}
