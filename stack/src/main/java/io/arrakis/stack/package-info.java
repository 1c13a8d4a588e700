/**
 * The user-level network stack (Arrakis/P's network stack): wire formats as zero-copy views, ARP,
 * IPv4, ICMP, UDP and TCP over a Vnic. Arrives with issue 3.
 */
package io.arrakis.stack;
