/**
 * The drop-in: SelectorProvider, channels, Selector, java.net socket adaptors and the
 * FileSystemProvider, routing each socket or file to a user-level stack or to the JDK's own
 * implementation. Arrives with issue 5 (network) and issue 7 (storage).
 */
package io.arrakis.provider;
