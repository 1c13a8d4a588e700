package io.arrakis.samples.redis;

import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;

/**
 * One connection: its socket, the requests being parsed, the replies waiting to be sent, and the
 * selected database. Confined to the event-loop thread.
 */
final class Client {
    final long id;
    final SocketChannel channel;
    SelectionKey key;
    final RequestParser parser = new RequestParser(16 * 1024);
    final ReplyBuffer out = new ReplyBuffer(16 * 1024);
    int db;
    /** Close once the queued replies are sent (QUIT, protocol errors). */
    boolean closeAfterReply;
    /** Already in the event loop's list of clients with replies to send. */
    boolean queuedForWrite;
    boolean closed;

    Client(long id, SocketChannel channel) {
        this.id = id;
        this.channel = channel;
    }
}
