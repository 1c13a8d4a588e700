package io.arrakis.provider;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.SocketAddress;
import java.net.SocketImpl;

/**
 * The {@link SocketImpl} our socket adaptors hand their {@code java.net} superclass, which
 * insists on one: the adaptors override every method that would reach it and do their work
 * through their channel, so a call arriving here is a bug in an adaptor. Stateless.
 */
final class DetachedSocketImpl extends SocketImpl {
    private static <T> T unreachable() {
        throw new InternalError("a socket adaptor reached its placeholder SocketImpl: every call must go to its channel");
    }

    @Override
    protected void create(boolean stream) {
        unreachable();
    }

    @Override
    protected void connect(String host, int port) {
        unreachable();
    }

    @Override
    protected void connect(InetAddress address, int port) {
        unreachable();
    }

    @Override
    protected void connect(SocketAddress address, int timeout) {
        unreachable();
    }

    @Override
    protected void bind(InetAddress host, int port) {
        unreachable();
    }

    @Override
    protected void listen(int backlog) {
        unreachable();
    }

    @Override
    protected void accept(SocketImpl s) {
        unreachable();
    }

    @Override
    protected InputStream getInputStream() {
        return unreachable();
    }

    @Override
    protected OutputStream getOutputStream() {
        return unreachable();
    }

    @Override
    protected int available() {
        return unreachable();
    }

    @Override
    protected void close() {
        unreachable();
    }

    @Override
    protected void sendUrgentData(int data) {
        unreachable();
    }

    @Override
    public void setOption(int optID, Object value) {
        unreachable();
    }

    @Override
    public Object getOption(int optID) {
        return unreachable();
    }
}
