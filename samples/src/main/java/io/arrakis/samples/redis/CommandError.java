package io.arrakis.samples.redis;

/**
 * A command's error reply, thrown by a handler before it changes anything; the dispatcher turns
 * it into {@code -<message>}. The common ones are shared instances without stack traces.
 */
final class CommandError extends RuntimeException {
    static final CommandError WRONG_TYPE =
            new CommandError("WRONGTYPE Operation against a key holding the wrong kind of value");
    static final CommandError NOT_INTEGER = new CommandError("ERR value is not an integer or out of range");
    static final CommandError NOT_FLOAT = new CommandError("ERR value is not a valid float");
    static final CommandError SYNTAX = new CommandError("ERR syntax error");
    static final CommandError OVERFLOW = new CommandError("ERR increment or decrement would overflow");
    static final CommandError MUST_BE_POSITIVE = new CommandError("ERR value is out of range, must be positive");
    static final CommandError STRING_TOO_LONG =
            new CommandError("ERR string exceeds maximum allowed size (proto-max-bulk-len)");

    CommandError(String message) {
        super(message, null, false, false);
    }

    static CommandError arity(String fullName) {
        return new CommandError("ERR wrong number of arguments for '" + fullName + "' command");
    }
}
