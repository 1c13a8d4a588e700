package io.arrakis.observe;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;

/**
 * A {@code force()} (durability barrier) on Arrakis storage: its duration is the latency the
 * caller waited. Built and committed by one thread.
 */
@Name("io.arrakis.Force")
@Label("Storage Force")
@Category("Arrakis")
@Description("A force() on an Arrakis store file or log: the event's duration is the caller's wait")
public final class ForceEvent extends jdk.jfr.Event {
    @Label("Target")
    public String target;
    @Label("Bytes Made Durable")
    @DataAmount
    public long bytes;
}
