package io.arrakis.observe;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/** A TCP retransmission timer expired (RFC 6298): the connection backs off and resends. Built and committed by one thread. */
@Name("io.arrakis.RetransmissionTimeout")
@Label("Retransmission Timeout")
@Category("Arrakis")
@Description("A user-level TCP connection's retransmission timer expired: it resends from SND.UNA and backs off")
@StackTrace(false)
public final class RetransmissionTimeoutEvent extends jdk.jfr.Event {
    @Label("Local Address")
    public String local;
    @Label("Remote Address")
    public String remote;
    @Label("State")
    public String state;
    @Label("Timeout")
    @Description("The timeout that expired (before backing off)")
    @Timespan(Timespan.NANOSECONDS)
    public long rto;
    @Label("Retries")
    @Description("Consecutive expirations without progress, this one included")
    public int retries;
    @Label("Bytes In Flight")
    @DataAmount
    public long bytesInFlight;
    @Label("Congestion Window")
    @DataAmount
    public long congestionWindow;
}
