package io.arrakis.samples.redis;

/** Redis's glob matching ({@code * ? [abc] [^a-z] \x}) for KEYS and CONFIG GET. Stateless. */
final class Glob {
    private Glob() {}

    static boolean matches(byte[] pattern, byte[] text) {
        return match(pattern, 0, text, 0, false);
    }

    static boolean matchesIgnoringCase(String pattern, String text) {
        return match(Commands.bytes(pattern), 0, Commands.bytes(text), 0, true);
    }

    private static int fold(int c, boolean ignoreCase) {
        return ignoreCase && c >= 'A' && c <= 'Z' ? c + 32 : c;
    }

    private static boolean match(byte[] p, int pi, byte[] s, int si, boolean nocase) {
        while (pi < p.length) {
            int pc = p[pi] & 0xff;
            switch (pc) {
                case '*' -> {
                    while (pi + 1 < p.length && p[pi + 1] == '*') {
                        pi++;
                    }
                    if (pi + 1 == p.length) {
                        return true;
                    }
                    for (int k = si; k <= s.length; k++) {
                        if (match(p, pi + 1, s, k, nocase)) {
                            return true;
                        }
                    }
                    return false;
                }
                case '?' -> {
                    if (si >= s.length) {
                        return false;
                    }
                    si++;
                }
                case '[' -> {
                    if (si >= s.length) {
                        return false;
                    }
                    pi++;
                    boolean not = pi < p.length && p[pi] == '^';
                    if (not) {
                        pi++;
                    }
                    boolean found = false;
                    int c = fold(s[si] & 0xff, nocase);
                    while (pi < p.length && p[pi] != ']') {
                        if (p[pi] == '\\' && pi + 1 < p.length) {
                            pi++;
                            if (fold(p[pi] & 0xff, nocase) == c) {
                                found = true;
                            }
                        } else if (pi + 2 < p.length && p[pi + 1] == '-') {
                            int lo = fold(p[pi] & 0xff, nocase);
                            int hi = fold(p[pi + 2] & 0xff, nocase);
                            if (lo > hi) {
                                int t = lo;
                                lo = hi;
                                hi = t;
                            }
                            if (c >= lo && c <= hi) {
                                found = true;
                            }
                            pi += 2;
                        } else if (fold(p[pi] & 0xff, nocase) == c) {
                            found = true;
                        }
                        pi++;
                    }
                    if (found == not) {
                        return false;
                    }
                    si++;
                }
                case '\\' -> {
                    if (pi + 1 < p.length) {
                        pi++;
                    }
                    if (si >= s.length || fold(p[pi] & 0xff, nocase) != fold(s[si] & 0xff, nocase)) {
                        return false;
                    }
                    si++;
                }
                default -> {
                    if (si >= s.length || fold(pc, nocase) != fold(s[si] & 0xff, nocase)) {
                        return false;
                    }
                    si++;
                }
            }
            pi++;
        }
        return si == s.length;
    }
}
