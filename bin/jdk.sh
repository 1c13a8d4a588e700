# Finding a JDK >= 25, shared by ./dev and bin/arrakis (sourced, not run).
# find_jdk prints the newest JDK >= 25 among JAVA_HOME, /usr/lib/jvm/*, ~/.jdks/*, ~/.sdkman
# candidates, or prints what to install on standard error and returns 1.

jdk_major() { # prints the feature version of the JDK at $1, or nothing
    [ -x "$1/bin/javac" ] && [ -f "$1/release" ] || return 0
    sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release"
}

find_jdk() {
    local candidate best="" best_major=0 major
    for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/* "$HOME"/.jdks/* "$HOME"/.sdkman/candidates/java/*; do
        [ -n "$candidate" ] && [ -d "$candidate" ] || continue
        major=$(jdk_major "$candidate")
        if [ -n "$major" ] && [ "$major" -ge 25 ] && [ "$major" -gt "$best_major" ]; then
            best=$candidate best_major=$major
        fi
    done
    if [ -z "$best" ]; then
        echo "${0##*/}: no JDK 25 or newer found (looked at JAVA_HOME, /usr/lib/jvm/*, ~/.jdks/*, ~/.sdkman): install a JDK 25 (for example Eclipse Temurin 25) under /usr/lib/jvm, or point JAVA_HOME at one." >&2
        return 1
    fi
    echo "$best"
}
