package io.arrakis.samples.redis;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;

/**
 * Number parsing and formatting with Redis's exact rules (its {@code string2ll} and
 * {@code %.17g}), so that what is accepted and what is printed match the real server. Stateless.
 */
final class RedisNumbers {
    private RedisNumbers() {}

    /** Thrown (a shared instance, no stack trace) when bytes are not a number Redis accepts. */
    static final class NotANumber extends Exception {
        private static final NotANumber INSTANCE = new NotANumber();

        private NotANumber() {
            super("not a number", null, false, false);
        }
    }

    /**
     * Parses a signed 64-bit decimal exactly as Redis's {@code string2ll}: no sign but '-', no
     * leading zeros, no spaces, at most 20 characters, no overflow.
     */
    static long parseLong(byte[] text) throws NotANumber {
        return parseLong(text, 0, text.length);
    }

    static long parseLong(byte[] text, int from, int to) throws NotANumber {
        int length = to - from;
        if (length == 0 || length > 20) {
            throw NotANumber.INSTANCE;
        }
        if (length == 1 && text[from] == '0') {
            return 0;
        }
        int i = from;
        boolean negative = false;
        if (text[i] == '-') {
            negative = true;
            i++;
            if (i == to) {
                throw NotANumber.INSTANCE;
            }
        }
        if (text[i] < '1' || text[i] > '9') {
            throw NotANumber.INSTANCE;
        }
        // Accumulate as a negative number so that Long.MIN_VALUE fits.
        long value = 0;
        for (; i < to; i++) {
            int digit = text[i] - '0';
            if (digit < 0 || digit > 9) {
                throw NotANumber.INSTANCE;
            }
            if (value < Long.MIN_VALUE / 10) {
                throw NotANumber.INSTANCE;
            }
            value *= 10;
            if (value < Long.MIN_VALUE + digit) {
                throw NotANumber.INSTANCE;
            }
            value -= digit;
        }
        if (negative) {
            return value;
        }
        if (value == Long.MIN_VALUE) {
            throw NotANumber.INSTANCE;
        }
        return -value;
    }

    /**
     * Parses a double as Redis does with {@code strtod}: no leading or trailing space, "inf" and
     * "infinity" in any case with an optional sign, never NaN.
     */
    static double parseDouble(byte[] text) throws NotANumber {
        int length = text.length;
        if (length == 0 || length > 5000) {
            throw NotANumber.INSTANCE;
        }
        String s = new String(text, StandardCharsets.ISO_8859_1);
        String unsigned = s.startsWith("+") || s.startsWith("-") ? s.substring(1) : s;
        if (unsigned.equalsIgnoreCase("inf") || unsigned.equalsIgnoreCase("infinity")) {
            return s.startsWith("-") ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        }
        if (unsigned.isEmpty()) {
            throw NotANumber.INSTANCE;
        }
        // Java's parser also takes "NaN", "Infinity", type suffixes (1d, 2f) and surrounding
        // spaces, and wants hex with a 'p' exponent: check the form C's strtod takes first.
        boolean hex = unsigned.length() > 1 && unsigned.charAt(0) == '0'
                && (unsigned.charAt(1) == 'x' || unsigned.charAt(1) == 'X');
        boolean significantDigit = false;
        boolean inExponent = false;
        for (int i = hex ? 2 : 0; i < unsigned.length(); i++) {
            char c = unsigned.charAt(i);
            char previous = i > 0 ? unsigned.charAt(i - 1) : ' ';
            boolean exponentMark = hex ? (c == 'p' || c == 'P') : (c == 'e' || c == 'E');
            boolean digit = (c >= '0' && c <= '9')
                    || (hex && !inExponent && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
            boolean sign = (c == '+' || c == '-')
                    && (hex ? previous == 'p' || previous == 'P' : previous == 'e' || previous == 'E');
            if (exponentMark) {
                inExponent = true;
            } else if (digit) {
                if (!inExponent && c != '0') {
                    significantDigit = true;
                }
            } else if (!(c == '.' && !inExponent) && !sign) {
                throw NotANumber.INSTANCE;
            }
        }
        String javaForm = hex && unsigned.indexOf('p') < 0 && unsigned.indexOf('P') < 0 ? s + "p0" : s;
        try {
            double value = Double.parseDouble(javaForm);
            // strtod reports overflow to infinity and underflow to zero as ERANGE; Redis refuses both.
            if (Double.isNaN(value) || Double.isInfinite(value) || (value == 0 && significantDigit)) {
                throw NotANumber.INSTANCE;
            }
            return value;
        } catch (NumberFormatException e) {
            throw NotANumber.INSTANCE;
        }
    }

    /** Formats a double as Redis 7.0 replies it: C's {@code %.17g}, "inf" and "-inf". */
    static String formatDouble(double value) {
        if (value == Double.POSITIVE_INFINITY) {
            return "inf";
        }
        if (value == Double.NEGATIVE_INFINITY) {
            return "-inf";
        }
        if (value == 0) {
            return 1 / value < 0 ? "-0" : "0";
        }
        BigDecimal rounded = new BigDecimal(value).round(new MathContext(17, RoundingMode.HALF_EVEN));
        int exponent = rounded.precision() - rounded.scale() - 1;
        BigDecimal stripped = rounded.stripTrailingZeros();
        if (exponent < -4 || exponent >= 17) {
            String digits = stripped.unscaledValue().abs().toString();
            StringBuilder out = new StringBuilder();
            if (value < 0) {
                out.append('-');
            }
            out.append(digits.charAt(0));
            if (digits.length() > 1) {
                out.append('.').append(digits, 1, digits.length());
            }
            out.append('e').append(exponent < 0 ? '-' : '+');
            int magnitude = Math.abs(exponent);
            if (magnitude < 10) {
                out.append('0');
            }
            return out.append(magnitude).toString();
        }
        return stripped.toPlainString();
    }

    static byte[] longToBytes(long value) {
        return Long.toString(value).getBytes(StandardCharsets.ISO_8859_1);
    }
}
