/**
 * The {@code java.net} side of the drop-in: {@code Socket} and {@code ServerSocket}
 * implementations over channels from the JVM's {@code SelectorProvider} ({@link
 * io.arrakis.provider.net.JavaNetHooks}), and the load-time rewrite that puts
 * {@code DatagramSocket}/{@code MulticastSocket} on it too ({@link
 * io.arrakis.provider.net.DatagramSocketHook}). Only the public channel API is used, so the same
 * code runs over the JDK's channels and over ours.
 */
package io.arrakis.provider.net;
