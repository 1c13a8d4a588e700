package io.arrakis.device;

/** Work a device can do for the stack, so the stack can skip doing it in software. */
public enum Offload {
    /** The device verifies IPv4/TCP/UDP checksums on receive and marks frames it checked. */
    RX_CHECKSUM,
    /** The device fills in TCP/UDP checksums on transmit when the stack asks it to. */
    TX_CHECKSUM,
    /** The device segments TCP payloads larger than the MSS (TSO). */
    TCP_SEGMENTATION,
    /** The device delivers frames larger than the MTU by chaining buffers (merged rx buffers). */
    RX_MERGED_BUFFERS
}
