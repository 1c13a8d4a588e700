package io.arrakis.samples.redis;

/**
 * One entry of the command table: its lower-case name, Redis's arity (positive: exactly that many
 * arguments including the name; negative: at least that many), whether it writes, where its keys
 * are (for COMMAND INFO), its group, and its handler. Immutable.
 */
record Command(String name, int arity, boolean write, int firstKey, int lastKey, int keyStep, String group,
        Handler handler) {

    /** Executes one call; replies through {@link Call#reply}, or throws {@link CommandError}. */
    @FunctionalInterface
    interface Handler {
        void execute(Call call);
    }
}
