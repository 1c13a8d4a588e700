package io.arrakis.provider.net;

import java.security.Security;

/**
 * Whether exception messages may name hosts, as the JDK decides it: the
 * {@code jdk.includeInExceptions} system property, else the security property of that name,
 * listing {@code hostInfo} or {@code hostInfoExclSocket}. Stateless.
 */
public final class HostInfo {
    private static final String PROPERTY = "jdk.includeInExceptions";

    private HostInfo() {}

    /** {@code host} when the configuration allows host names in messages, else the empty string (the JDK's filtered text). */
    public static String inMessage(String host) {
        String setting = System.getProperty(PROPERTY);
        if (setting == null) {
            setting = Security.getProperty(PROPERTY);
        }
        if (setting != null) {
            for (String item : setting.split(",")) {
                String name = item.trim();
                if (name.equalsIgnoreCase("hostInfo") || name.equalsIgnoreCase("hostInfoExclSocket")) {
                    return host;
                }
            }
        }
        return "";
    }
}
