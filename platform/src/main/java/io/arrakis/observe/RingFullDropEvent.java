package io.arrakis.observe;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** A VNIC queue dropped frames because the ring (channel) toward the receiver was full. Built and committed by one thread. */
@Name("io.arrakis.RingFullDrop")
@Label("Ring Full Drop")
@Category("Arrakis")
@Description("A VNIC queue dropped frames because the transmit ring or the channel to the receiver was full")
@StackTrace(false)
public final class RingFullDropEvent extends jdk.jfr.Event {
    @Label("VNIC")
    public String vnic;
    @Label("Queue")
    public int queue;
    @Label("Frames")
    public int frames;
}
