package io.arrakis.observe;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** A user-level TCP connection came into being (connect, or accepted by a listener). Built and committed by one thread. */
@Name("io.arrakis.ConnectionOpened")
@Label("Connection Opened")
@Category("Arrakis")
@Description("A user-level TCP connection was created: by connect (state SYN_SENT) or by a listener")
@StackTrace(false)
public final class ConnectionOpenedEvent extends jdk.jfr.Event {
    @Label("Local Address")
    public String local;
    @Label("Remote Address")
    public String remote;
    @Label("State")
    public String state;
}
