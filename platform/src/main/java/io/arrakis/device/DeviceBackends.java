package io.arrakis.device;

import java.util.List;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Finds the registered device backends. The stack and the provider ask here by name, so adding
 * a backend means adding a jar, not changing them. Thread-safe.
 */
public final class DeviceBackends {
    private DeviceBackends() {}

    public static List<VnicBackend> vnicBackends() {
        return load(VnicBackend.class);
    }

    public static List<VsicBackend> vsicBackends() {
        return load(VsicBackend.class);
    }

    /**
     * The VNIC backend called {@code name}, if it can run here. Otherwise an
     * {@link IllegalArgumentException} that lists every backend and why it cannot run.
     */
    public static VnicBackend vnicBackend(String name) {
        return find("VNIC", name, vnicBackends(), VnicBackend::name, VnicBackend::unavailableReason);
    }

    /** The VSIC backend called {@code name}; as {@link #vnicBackend}. */
    public static VsicBackend vsicBackend(String name) {
        return find("VSIC", name, vsicBackends(), VsicBackend::name, VsicBackend::unavailableReason);
    }

    private static <B> List<B> load(Class<B> type) {
        return ServiceLoader.load(type, DeviceBackends.class.getClassLoader()).stream()
                .map(ServiceLoader.Provider::get)
                .toList();
    }

    private static <B> B find(String kind, String name, List<B> all, Function<B, String> nameOf,
            Function<B, Optional<String>> unavailableReason) {
        for (B backend : all) {
            if (nameOf.apply(backend).equals(name)) {
                Optional<String> reason = unavailableReason.apply(backend);
                if (reason.isPresent()) {
                    throw new IllegalArgumentException(kind + " backend '" + name + "' cannot run here: "
                            + reason.get());
                }
                return backend;
            }
        }
        throw new IllegalArgumentException("no " + kind + " backend named '" + name + "'; registered: "
                + all.stream()
                        .map(b -> nameOf.apply(b)
                                + unavailableReason.apply(b).map(r -> " (unavailable: " + r + ")").orElse(""))
                        .collect(Collectors.joining(", ")));
    }
}
