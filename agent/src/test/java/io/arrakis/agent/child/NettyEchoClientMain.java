package io.arrakis.agent.child;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** An unmodified Netty client (NIO transport): sends 256 KiB of random bytes to 127.0.0.1:port and checks the echo. Prints {@code OK}. */
public final class NettyEchoClientMain {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        byte[] data = new byte[256 * 1024];
        new Random(7).nextBytes(data);
        CompletableFuture<byte[]> echoed = new CompletableFuture<>();
        ByteArrayOutputStream received = new ByteArrayOutputStream();
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try {
            Channel channel = new Bootstrap().group(group).channel(NioSocketChannel.class)
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                                @Override
                                public void channelRead(ChannelHandlerContext context, Object message) {
                                    ByteBuf buffer = (ByteBuf) message;
                                    byte[] bytes = new byte[buffer.readableBytes()];
                                    buffer.readBytes(bytes);
                                    buffer.release();
                                    received.writeBytes(bytes);
                                    if (received.size() >= data.length) {
                                        echoed.complete(received.toByteArray());
                                    }
                                }
                            });
                        }
                    }).connect(InetAddress.getLoopbackAddress(), port).sync().channel();
            channel.writeAndFlush(Unpooled.wrappedBuffer(data)).sync();
            if (!Arrays.equals(data, echoed.get(30, TimeUnit.SECONDS))) {
                throw new IllegalStateException("the echo differs from what was sent");
            }
            channel.close().sync();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        System.out.println("OK");
    }
}
