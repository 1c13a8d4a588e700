package io.arrakis.control;

import io.arrakis.device.FlowFilter;
import io.arrakis.device.VnicConfig;
import io.arrakis.device.xdp.AfXdpVnic;
import io.arrakis.device.xdp.AfXdpVnicBackend;
import io.arrakis.device.xdp.XdpAdmission;
import io.arrakis.device.xdp.XdpFilters;
import io.arrakis.linux.LinuxException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The client side of AF_XDP admission, found by {@code AfXdpVnic} (filters=external) through
 * {@link java.util.ServiceLoader}: connects to the control plane (option {@code control-socket},
 * default {@link ControlPlane#defaultSocketPath()}), asks it to admit each of the VNIC's sockets,
 * and forwards filter requests. The connection lives as long as the VNIC: when it closes (the VNIC
 * closes, or the process dies) the control plane removes the process's flows.
 *
 * <p>Thread-safe: a session's requests are serialized on it.
 */
public final class XdpAdmissionClient implements XdpAdmission {
    @Override
    public Session admit(AfXdpVnic vnic, VnicConfig config) throws IOException {
        Path socket = Path.of(config.option(AfXdpVnicBackend.OPTION_CONTROL_SOCKET,
                ControlPlane.defaultSocketPath().toString()));
        ControlConnection connection;
        try {
            connection = ControlConnection.connect(socket);
        } catch (LinuxException e) {
            throw new IOException("af_xdp VNIC " + vnic.name() + " (filters=external) cannot reach the control plane at "
                    + socket + ": " + e.getMessage() + (ControlConnection.nobodyListens(e) ? "; start one (arrakis"
                    + " control start, as root) or set option control-socket" : ""), e);
        }
        String namespace = vnic.namespace() == null ? "" : vnic.namespace();
        try {
            connection.start(null, "arrakis-xdp-admission");
            for (int q = 0; q < vnic.queueCount(); q++) {
                connection.call(new Protocol.XdpAdmit(namespace, vnic.interfaceName(),
                        vnic.xdpMode() == XdpFilters.Mode.NATIVE, vnic.hardwareQueue(q), vnic.socketFd(q),
                        vnic.address()));
            }
        } catch (IOException | RuntimeException e) {
            try {
                connection.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        return new ControlledSession(connection, namespace, vnic.interfaceName());
    }

    private static final class ControlledSession implements Session {
        private final ControlConnection connection;
        private final String namespace;
        private final String interfaceName;
        private final List<FlowFilter> flows = new ArrayList<>();

        ControlledSession(ControlConnection connection, String namespace, String interfaceName) {
            this.connection = connection;
            this.namespace = namespace;
            this.interfaceName = interfaceName;
        }

        @Override
        public synchronized void addFlow(FlowFilter filter, int hardwareQueue) throws IOException {
            connection.call(new Protocol.XdpAddFlow(namespace, interfaceName, filter, hardwareQueue));
            if (!flows.contains(filter)) {
                flows.add(filter);
            }
        }

        @Override
        public synchronized boolean removeFlow(FlowFilter filter) throws IOException {
            if (!flows.contains(filter)) {
                return false;
            }
            connection.call(new Protocol.XdpRemoveFlow(namespace, interfaceName, filter));
            flows.remove(filter);
            return true;
        }

        @Override
        public synchronized List<FlowFilter> flows() {
            return List.copyOf(flows);
        }

        @Override
        public void close() throws IOException {
            connection.close();
        }
    }
}
