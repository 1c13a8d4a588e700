package io.arrakis.nvme;

/**
 * The logical blocks of a namespace that one VSA may touch, as the control plane assigned them:
 * LBAs {@code first} to {@code first + count - 1} of namespace {@code namespaceId}. The last check
 * before a command is encoded: a command outside the range is refused here and never reaches
 * the device. Immutable.
 */
public record LbaRange(String vsaName, int namespaceId, long first, long count) {
    public LbaRange {
        if (first < 0 || count <= 0 || first > Long.MAX_VALUE - count) {
            throw new IllegalArgumentException("VSA " + vsaName + ": LBA range starting at " + first + " with " + count
                    + " blocks is not a range");
        }
    }

    public long end() {
        return first + count;
    }

    /**
     * Refuses {@code blocks} LBAs from {@code lba} unless all lie in the range, naming the VSA, the
     * LBAs and the range.
     */
    public void check(String operation, long lba, long blocks) {
        if (blocks < 1 || lba < first || lba > end() - blocks) {
            throw new IllegalArgumentException("VSA " + vsaName + ": " + operation + " of LBAs " + lba + ".."
                    + (lba + blocks - 1) + " of namespace " + namespaceId + " refused before it reached the device:"
                    + " this VSA owns LBAs " + first + ".." + (end() - 1) + " only");
        }
    }

    @Override
    public String toString() {
        return "namespace " + namespaceId + " LBAs " + first + ".." + (end() - 1);
    }
}
