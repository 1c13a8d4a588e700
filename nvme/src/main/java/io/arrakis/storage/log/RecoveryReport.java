package io.arrakis.storage.log;

/**
 * What opening a log found.
 *
 * @param generation the superblock generation (which region and which records count)
 * @param superblockProblem null, or which superblock slot failed its checks: the other one (an
 *        older generation) was used, so writes after the last checkpoint may be missing
 * @param recordsReplayed records applied, in order
 * @param endOffset where the last replayed record ends (a byte offset in the VSA)
 * @param resumeOffset where new records go: the next block boundary
 * @param stopReason why replay stopped at {@code endOffset}, when what lies there looks like a
 *        record of this generation that fails a check (a torn or damaged record); null when the
 *        log simply ends there
 * @param droppedRecords checksummed records of this generation found after the end, which the
 *        chain no longer reaches (they followed the damage, or were written but never flushed);
 *        they are erased before new records are written
 * @param droppedBytes bytes from {@code endOffset} to the end of the last dropped record
 */
public record RecoveryReport(long generation, String superblockProblem, long recordsReplayed, long endOffset,
        long resumeOffset,
        String stopReason, long droppedRecords, long droppedBytes) {
    /** Nothing was damaged or dropped. */
    public boolean clean() {
        return superblockProblem == null && stopReason == null && droppedRecords == 0;
    }

    @Override
    public String toString() {
        return (superblockProblem == null ? "" : superblockProblem + "; ") + "generation " + generation
                + ": replayed " + recordsReplayed + " records up to offset " + endOffset
                + (stopReason == null ? "" : "; stopped: " + stopReason)
                + (droppedRecords == 0 ? "" : "; dropped " + droppedRecords + " later records (" + droppedBytes
                        + " bytes)");
    }
}
