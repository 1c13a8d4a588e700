package io.arrakis.observe;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** A user-level TCP connection reached CLOSED and left its stack. Built and committed by one thread. */
@Name("io.arrakis.ConnectionClosed")
@Label("Connection Closed")
@Category("Arrakis")
@Description("A user-level TCP connection reached CLOSED and was forgotten by its stack")
@StackTrace(false)
public final class ConnectionClosedEvent extends jdk.jfr.Event {
    @Label("Local Address")
    public String local;
    @Label("Remote Address")
    public String remote;
    @Label("Bytes In")
    @DataAmount
    public long bytesIn;
    @Label("Bytes Out")
    @Description("Data bytes sent, retransmissions included (as Linux's bytes_sent)")
    @DataAmount
    public long bytesOut;
    @Label("Retransmitted Segments")
    public long retransmits;
    @Label("Failure")
    @Description("Why it ended abnormally (RESET, TIMED_OUT, …), or NONE")
    public String failure;
}
