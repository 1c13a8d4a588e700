package io.arrakis.observe;

import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.LongSupplier;
import javax.management.Attribute;
import javax.management.AttributeList;
import javax.management.AttributeNotFoundException;
import javax.management.DynamicMBean;
import javax.management.InstanceAlreadyExistsException;
import javax.management.InstanceNotFoundException;
import javax.management.JMException;
import javax.management.MBeanAttributeInfo;
import javax.management.MBeanInfo;
import javax.management.MBeanRegistrationException;
import javax.management.MBeanServer;
import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;

/**
 * A read-only MBean whose attributes are counters ({@code long}), each read on demand from a
 * {@link LongSupplier} (a shared-memory counter, a stack's statistics): what JConsole and
 * VisualVM show under {@code io.arrakis}. Thread-safe: immutable once built; the suppliers are
 * read on the JMX caller's thread and must tolerate that (racy, slightly stale values are fine).
 */
public final class CounterMBean implements DynamicMBean {
    /** The JMX domain of every Arrakis MBean. */
    public static final String DOMAIN = "io.arrakis";

    private final String description;
    private final Map<String, LongSupplier> counters;
    private final MBeanInfo info;

    /** {@code counters} in the order JConsole lists them. */
    public CounterMBean(String description, Map<String, LongSupplier> counters) {
        this.description = description;
        this.counters = new LinkedHashMap<>(counters);
        MBeanAttributeInfo[] attributes = new MBeanAttributeInfo[this.counters.size()];
        int i = 0;
        for (String name : this.counters.keySet()) {
            attributes[i++] = new MBeanAttributeInfo(name, "long", name, true, false, false);
        }
        this.info = new MBeanInfo(CounterMBean.class.getName(), description, attributes, null, null, null);
    }

    /** {@code io.arrakis:type=<type>,name=<name>} (the name quoted when it needs it). */
    public static ObjectName objectName(String type, String name) {
        try {
            return new ObjectName(DOMAIN + ":type=" + type + ",name=" + quoteIfNeeded(name));
        } catch (MalformedObjectNameException e) {
            throw new IllegalArgumentException("not a usable MBean name: type " + type + ", name " + name, e);
        }
    }

    private static String quoteIfNeeded(String name) {
        for (int i = 0; i < name.length(); i++) {
            if (",=:\"*?\n".indexOf(name.charAt(i)) >= 0) {
                return ObjectName.quote(name);
            }
        }
        return name;
    }

    /**
     * Registers {@code bean} as {@code name} with the platform MBean server, replacing one a
     * previous owner of that name left behind; the returned registration unregisters it. A
     * failure is not the caller's problem (statistics are optional): it is logged and the
     * registration does nothing.
     */
    public static Registration register(ObjectName name, DynamicMBean bean) {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        try {
            try {
                server.registerMBean(bean, name);
            } catch (InstanceAlreadyExistsException e) {
                server.unregisterMBean(name);
                server.registerMBean(bean, name);
            }
            return new Registration(server, name);
        } catch (JMException | RuntimeException e) {
            System.getLogger(CounterMBean.class.getName()).log(System.Logger.Level.DEBUG,
                    "arrakis: MBean " + name + " not registered: " + e);
            return new Registration(null, name);
        }
    }

    /** An MBean's place in the platform server; {@link #close} removes it (idempotent). */
    public static final class Registration implements AutoCloseable {
        private MBeanServer server;
        private final ObjectName name;

        private Registration(MBeanServer server, ObjectName name) {
            this.server = server;
            this.name = name;
        }

        public ObjectName name() {
            return name;
        }

        @Override
        public synchronized void close() {
            if (server == null) {
                return;
            }
            try {
                server.unregisterMBean(name);
            } catch (InstanceNotFoundException | MBeanRegistrationException e) {
                // Someone unregistered it already: nothing left to do.
            }
            server = null;
        }
    }

    @Override
    public Object getAttribute(String attribute) throws AttributeNotFoundException {
        LongSupplier counter = counters.get(attribute);
        if (counter == null) {
            throw new AttributeNotFoundException("no counter " + attribute + " in " + description);
        }
        return counter.getAsLong();
    }

    @Override
    public void setAttribute(Attribute attribute) throws AttributeNotFoundException {
        throw new AttributeNotFoundException("counters are read-only: " + attribute.getName());
    }

    @Override
    public AttributeList getAttributes(String[] attributes) {
        AttributeList list = new AttributeList();
        for (String name : attributes) {
            LongSupplier counter = counters.get(name);
            if (counter != null) {
                list.add(new Attribute(name, counter.getAsLong()));
            }
        }
        return list;
    }

    @Override
    public AttributeList setAttributes(AttributeList attributes) {
        return new AttributeList();
    }

    @Override
    public Object invoke(String actionName, Object[] params, String[] signature) throws javax.management.ReflectionException {
        throw new javax.management.ReflectionException(new NoSuchMethodException(actionName),
                "counter MBeans have no operations");
    }

    @Override
    public MBeanInfo getMBeanInfo() {
        return info;
    }
}
