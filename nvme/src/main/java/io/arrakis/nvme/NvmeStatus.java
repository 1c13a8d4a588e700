package io.arrakis.nvme;

import io.arrakis.linux.Errno;

/**
 * The status field of a completion queue entry (NVMe base specification 2.0, figure 92–100):
 * status code type, status code, "more" and "do not retry", and what each common status means,
 * in words and as the errno the {@code Vsic} SPI reports. Stateless.
 */
public final class NvmeStatus {
    public static final int TYPE_GENERIC = 0;
    public static final int TYPE_COMMAND_SPECIFIC = 1;
    public static final int TYPE_MEDIA = 2;
    public static final int TYPE_PATH = 3;
    public static final int TYPE_VENDOR = 7;

    private NvmeStatus() {}

    /** The 15-bit status field from completion dword 3 (bits 31:17), without the phase tag. */
    public static int fromDword3(int dword3) {
        return (dword3 >>> 17) & 0x7fff;
    }

    public static boolean phase(int dword3) {
        return ((dword3 >>> 16) & 1) != 0;
    }

    public static int commandId(int dword3) {
        return dword3 & 0xffff;
    }

    public static int code(int status) {
        return status & 0xff;
    }

    public static int type(int status) {
        return (status >>> 8) & 0x7;
    }

    public static boolean doNotRetry(int status) {
        return ((status >>> 14) & 1) != 0;
    }

    public static boolean isSuccess(int status) {
        return (status & 0x7ff) == 0;
    }

    /** "status type 0 (generic), code 0x80 (LBA out of range)". */
    public static String describe(int status) {
        int type = type(status);
        int code = code(status);
        return "status type " + type + " (" + typeName(type) + "), code 0x" + Integer.toHexString(code) + " ("
                + codeName(type, code) + ")" + (doNotRetry(status) ? ", do not retry" : "");
    }

    static String typeName(int type) {
        return switch (type) {
            case TYPE_GENERIC -> "generic";
            case TYPE_COMMAND_SPECIFIC -> "command specific";
            case TYPE_MEDIA -> "media and data integrity";
            case TYPE_PATH -> "path related";
            case TYPE_VENDOR -> "vendor specific";
            default -> "reserved";
        };
    }

    static String codeName(int type, int code) {
        if (type == TYPE_GENERIC) {
            return switch (code) {
                case 0x00 -> "success";
                case 0x01 -> "invalid command opcode";
                case 0x02 -> "invalid field in command";
                case 0x03 -> "command ID conflict";
                case 0x04 -> "data transfer error";
                case 0x05 -> "commands aborted due to power loss";
                case 0x06 -> "internal error";
                case 0x07 -> "command abort requested";
                case 0x08 -> "command aborted due to SQ deletion";
                case 0x0b -> "invalid namespace or format";
                case 0x0d -> "invalid SGL/PRP offset";
                case 0x13 -> "PRP offset invalid";
                case 0x15 -> "operation denied";
                case 0x80 -> "LBA out of range";
                case 0x81 -> "capacity exceeded";
                case 0x82 -> "namespace not ready";
                case 0x83 -> "reservation conflict";
                default -> "see the NVMe specification";
            };
        }
        if (type == TYPE_COMMAND_SPECIFIC) {
            return switch (code) {
                case 0x00 -> "completion queue invalid";
                case 0x01 -> "invalid queue identifier";
                case 0x02 -> "invalid queue size";
                case 0x08 -> "invalid interrupt vector";
                case 0x0b -> "invalid namespace or format";
                case 0x0c -> "invalid queue deletion";
                case 0x80 -> "conflicting attributes";
                case 0x82 -> "attempted write to read only range";
                default -> "see the NVMe specification";
            };
        }
        if (type == TYPE_MEDIA) {
            return switch (code) {
                case 0x80 -> "write fault";
                case 0x81 -> "unrecovered read error";
                case 0x82 -> "end-to-end guard check error";
                case 0x86 -> "access denied";
                case 0x87 -> "deallocated or unwritten logical block";
                default -> "see the NVMe specification";
            };
        }
        return "see the NVMe specification";
    }

    /**
     * The negative errno the Vsic SPI reports for a failed status: {@code -ERANGE} for LBA out of
     * range, {@code -ENOSPC} for capacity exceeded, {@code -EAGAIN} for namespace not ready,
     * {@code -EACCES} for access denied and read-only ranges, {@code -EINVAL} for malformed
     * commands, {@code -EIO} for everything else (media and internal errors, aborts).
     */
    public static int toErrno(int status) {
        if (isSuccess(status)) {
            return 0;
        }
        int type = type(status);
        int code = code(status);
        if (type == TYPE_GENERIC) {
            return switch (code) {
                case 0x80 -> -Errno.ERANGE;
                case 0x81 -> -Errno.ENOSPC;
                case 0x82 -> -Errno.EAGAIN;
                case 0x15, 0x83 -> -Errno.EACCES;
                case 0x01, 0x02, 0x0b, 0x0d, 0x13 -> -Errno.EINVAL;
                default -> -Errno.EIO;
            };
        }
        if (type == TYPE_MEDIA && code == 0x86 || type == TYPE_COMMAND_SPECIFIC && code == 0x82) {
            return -Errno.EACCES;
        }
        return -Errno.EIO;
    }
}
