#!/usr/bin/env bash
# The emulated-hardware lab (docs/lab.md), run by `./dev lab`: boots a Debian kernel under QEMU
# software emulation with an emulated intel-iommu, an NVMe drive, a modern virtio-net NIC on a TAP
# device in a network namespace of its own (198.18.90.1/24) and an e1000e left to its kernel
# driver; hands NVMe and virtio-net to vfio-pci; runs every @Tag("lab") test class of the
# repository in ONE guest JVM; serves the host mailbox while it runs; prints each test's outcome
# and exits non-zero on any failure or on timeout. Needs root (namespace, TAP).
#
# Environment: LAB_JDK (set by ./dev: the JDK the guest runs, shared read-only),
# ARRAKIS_LAB_TIMEOUT (seconds the guest may run, default 480), ARRAKIS_LAB_KEEP=1 (keep
# target/lab/run for inspection; it is replaced by the next run anyway).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd -P)
START=$SECONDS

say() { printf 'lab: [%3d s] %s\n' $((SECONDS - START)) "$*"; }
die() { echo "lab: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "the lab needs root (it creates a network namespace and a TAP device, and boots QEMU); run it as root"
JDK=${LAB_JDK:?run the lab through ./dev lab, which finds the JDK}
TIMEOUT=${ARRAKIS_LAB_TIMEOUT:-480}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/arrakis-lab
M2=$(cd "$HOME/.m2" && pwd -P)
WORK=$REPO/target/lab
RUN=$WORK/run
SHARED=$RUN/shared
NS=arrakis-lab-$$
TAP=labtap0
HOST_ADDRESS=198.18.90.1
GUEST_ADDRESS=198.18.90.2
# The modules the guest loads (with their dependencies): VFIO, 9p over virtio, e1000e.
GUEST_MODULES=(vfio-pci vfio_iommu_type1 9pnet_virtio 9p e1000e virtio_pci)

mkdir -p "$WORK" "$CACHE"
exec 8>"$WORK/lock"
flock -n 8 || die "another lab is running from this worktree ($WORK/lock is held)"

# --- Debian packages ------------------------------------------------------------------------------
LAB_PACKAGES=(qemu-system-x86 busybox-static kmod cpio iproute2 iputils-ping redis-tools)
missing=()
for p in "${LAB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Guest kernel and initramfs, cached in $CACHE (shared by worktrees: built under a lock) ---------
build_guest() {
    local kpkg kver kdir
    kpkg=${ARRAKIS_LAB_KERNEL:-$(find "$CACHE" -maxdepth 1 -name 'linux-image-6.1.0-*-amd64' -printf '%f\n' | sort -V | tail -1)}
    if [ -z "$kpkg" ]; then
        kpkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1)
        [ -n "$kpkg" ] || { apt-get update -qq >/dev/null; kpkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1); }
        [ -n "$kpkg" ] || die "no linux-image-6.1.0-*-amd64 package in the apt sources; add Debian 12 (bookworm) to them"
    fi
    kdir=$CACHE/$kpkg
    if [ ! -f "$kdir/ready" ]; then
        say "downloading and unpacking $kpkg (once; cached in $CACHE)"
        rm -rf "$kdir" && mkdir -p "$kdir/deb"
        (cd "$kdir/deb" && apt-get download -q "$kpkg" >/dev/null 2>&1) || die "apt-get download $kpkg failed"
        dpkg -x "$kdir"/deb/*.deb "$kdir/root"
        rm -rf "$kdir/deb"
        kver=$(ls "$kdir/root/lib/modules")
        depmod -b "$kdir/root" "$kver"
        touch "$kdir/ready"
    fi
    kver=$(ls "$kdir/root/lib/modules")
    KERNEL=$(ls "$kdir"/root/boot/vmlinuz-*)
    local key
    key=$(cat lab/guest-init.sh lab/lab.sh /bin/busybox | sha256sum | cut -c1-16)  # rebuilt when either script changes
    INITRD=$kdir/initrd-$key.gz
    if [ ! -f "$INITRD" ]; then
        say "building the initramfs (busybox, ${GUEST_MODULES[*]} and their dependencies)"
        local tmp
        tmp=$(mktemp -d)
        mkdir -p "$tmp"/{bin,modules,proc,sys,dev,shared}
        cp /bin/busybox "$tmp/bin/busybox"
        cp lab/guest-init.sh "$tmp/init" && chmod 755 "$tmp/init"
        mknod "$tmp/dev/console" c 5 1
        mknod "$tmp/dev/null" c 1 3
        for module in "${GUEST_MODULES[@]}"; do
            modprobe -d "$kdir/root" -S "$kver" --show-depends "$module" || die "module $module not in $kpkg"
        done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' |
            while read -r ko; do
                cp "$ko" "$tmp/modules/"
                basename "$ko" >> "$tmp/modules/order"
            done
        for module in "${GUEST_MODULES[@]}"; do
            grep -q "^${module//-/[-_]}.ko$" "$tmp/modules/order" || die "module $module missing from the initramfs"
        done
        (cd "$tmp" && find . | cpio -o -H newc --quiet) | gzip -1 > "$INITRD.tmp"
        # Other keys' initramfs belong to other worktrees' versions of these scripts: left alone
        # unless unused for a week.
        find "$kdir" -maxdepth 1 -name 'initrd-*.gz' -mtime +7 -delete
        mv "$INITRD.tmp" "$INITRD"
        rm -rf "$tmp"
    fi
}
exec 7>"$CACHE/lock"
flock 7
build_guest
# This run boots its own copies: the cache may change under another worktree's lab meanwhile.
rm -rf "$RUN"
mkdir -p "$SHARED/host"
cp "$KERNEL" "$RUN/vmlinuz"
cp "$INITRD" "$RUN/initrd.gz"
touch "$INITRD"
flock -u 7
say "guest: $(basename "$KERNEL"), $(basename "$INITRD")"

# --- The lab tests and their class path ------------------------------------------------------------
# Every test class whose source carries @Tag("lab"), in any module.
mapfile -t LAB_SOURCES < <(grep -rl --include='*.java' '@Tag("lab")' -- */src/test/java | sort)
[ ${#LAB_SOURCES[@]} -gt 0 ] || die "no @Tag(\"lab\") test classes in */src/test/java"
MODULES=() CLASSES=()
for source in "${LAB_SOURCES[@]}"; do
    module=${source%%/*}
    class=${source#*/src/test/java/}
    class=${class%.java}
    CLASSES+=("${class//\//.}")
    [[ " ${MODULES[*]} " == *" $module "* ]] || MODULES+=("$module")
done
say "lab test classes: ${CLASSES[*]##*.}"
[[ " ${MODULES[*]} " == *" lab "* ]] || MODULES=(lab "${MODULES[@]}")
say "compiling ${MODULES[*]} and resolving their test class paths (mvn -o)"
PL=$(IFS=,; echo "${MODULES[*]}")
# maven-dependency-plugin 2.8: the one version whose own dependencies are all in the offline
# repository (3.x's build-classpath needs commons-beanutils, absent here). In the reactor with
# test-compile, it names our modules' target/classes (and test-jars' target/test-classes), never
# the io.arrakis jars someone installed in ~/.m2.
mvn -B -ntp -o -q -pl "$PL" -am test-compile org.apache.maven.plugins:maven-dependency-plugin:2.8:build-classpath \
    -Dmdep.outputFile=target/lab-classpath.txt -Dmdep.includeScope=test >"$WORK/mvn.log" 2>&1 ||
    { cat "$WORK/mvn.log" >&2; die "the build failed (log above, also in $WORK/mvn.log)"; }
CLASS_PATH=()
for module in "${MODULES[@]}"; do
    CLASS_PATH+=("$REPO/$module/target/test-classes" "$REPO/$module/target/classes")
    IFS=: read -r -a entries < "$REPO/$module/target/lab-classpath.txt" || true  # no final newline
    CLASS_PATH+=("${entries[@]}")
done
CP=$(printf '%s\n' "${CLASS_PATH[@]}" | awk 'NF && !seen[$0]++' | paste -sd:)
for class in "${CLASSES[@]}"; do
    found=
    for module in "${MODULES[@]}"; do
        [ -f "$REPO/$module/target/test-classes/${class//.//}.class" ] && found=1
    done
    [ -n "$found" ] || die "lab test class $class has no compiled class in any module's target/test-classes"
done
case "$CP" in *"$HOME/.m2/repository/io/arrakis/"*) die "the class path names io.arrakis jars from ~/.m2 instead of the reactor's classes: $CP" ;; esac

# --- This run's NVMe image and the guest's instructions --------------------------------------------
truncate -s 64M "$RUN/nvme.img"
JDK_TAG=
case "$JDK/" in /usr/*) ;; *) JDK_TAG=jdk ;; esac
cat > "$SHARED/guest.env" <<EOF
REPO='$REPO'
M2='$M2'
SHARED='$SHARED'
JDK='$JDK'
JDK_TAG='$JDK_TAG'
EOF
# One JVM for all lab tests: C1 only and the serial collector start fastest under emulation.
{
    printf '%s\n' -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx1536m -XX:-UsePerfData \
        --enable-native-access=ALL-UNNAMED -Djava.io.tmpdir=/tmp \
        "-Darrakis.lab.host-address=$HOST_ADDRESS" "-Darrakis.lab.guest-address=$GUEST_ADDRESS" \
        "-Darrakis.lab.shared=$SHARED" "-Darrakis.lab.java=$JDK/bin/java" \
        -cp "$CP" io.arrakis.lab.LabRunner --report "$SHARED/results.txt" "${CLASSES[@]}"
} > "$SHARED/java.args"

# --- Network namespace and TAP; everything started from here is cleaned up on exit ---------------
QEMU_PID= MAILBOX_PID= CONSOLE_PID= BUDGET_PID=
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in $QEMU_PID $MAILBOX_PID $CONSOLE_PID $BUDGET_PID; do
        kill "$pid" 2>/dev/null || true
    done
    if [ -n "$QEMU_PID" ]; then
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$QEMU_PID" 2>/dev/null || true
    fi
    if ip netns list | grep -qw "$NS"; then
        # Mailbox commands still running in the namespace (each ended by its own PID).
        for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns del "$NS" 2>/dev/null || true
    fi
    [ "${ARRAKIS_LAB_KEEP:-0}" = 1 ] || rm -f "$RUN/nvme.img"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Namespaces left by a lab that was killed (their creator's PID is gone).
for stale in $(ip netns list | awk '/^arrakis-lab-[0-9]+/ { print $1 }'); do
    if ! kill -0 "${stale##*-}" 2>/dev/null; then
        for pid in $(ip netns pids "$stale" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns del "$stale" 2>/dev/null || true
    fi
done
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" tuntap add dev "$TAP" mode tap multi_queue
ip -n "$NS" addr add "$HOST_ADDRESS/24" dev "$TAP"
ip -n "$NS" link set "$TAP" up
say "namespace $NS: $TAP $HOST_ADDRESS/24"

# --- The host mailbox (docs/lab.md): <id>.cmd in, <id>.out then <id>.rc out ------------------------
serve_mailbox() {
    local box=$SHARED/host cmd id
    while :; do
        for cmd in "$box"/*.cmd; do
            [ -e "$cmd" ] || continue
            id=$(basename "$cmd" .cmd)
            if [[ ! $id =~ ^[a-z0-9-]+$ ]]; then
                mv "$cmd" "$cmd.rejected"
                continue
            fi
            mv "$cmd" "$box/$id.running"
            (
                rc=0
                ip netns exec "$NS" timeout -k 5 120 sh "$box/$id.running" > "$box/$id.out" 2>&1 < /dev/null || rc=$?
                echo "$rc" > "$box/$id.rc.tmp"
                mv "$box/$id.rc.tmp" "$box/$id.rc"
                printf 'lab: mailbox %s: exit %s: %s\n' "$id" "$rc" "$(head -c 200 "$box/$id.running" | tr '\n' ' ')"
            ) &
        done
        sleep 0.1
    done
}

# --- Boot ------------------------------------------------------------------------------------------
QEMU=(qemu-system-x86_64 -nodefaults -no-user-config -no-reboot -display none
    -accel tcg,thread=multi -smp 2 -m 3072
    -machine q35,kernel-irqchip=split -device intel-iommu,intremap=on
    -serial "file:$RUN/console.log"
    -kernel "$RUN/vmlinuz" -initrd "$RUN/initrd.gz"
    # no_timer_check: under a loaded host, TCG's timer interrupt can miss the kernel's early
    # check of the interrupt-remapped IO-APIC timer, which then panics ("timer doesn't work").
    -append "console=ttyS0 intel_iommu=on iommu=pt no_timer_check panic=-1 quiet loglevel=3"
    -drive "file=$RUN/nvme.img,if=none,id=nv0,format=raw" -device nvme,serial=lab01,drive=nv0,addr=04.0
    -netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no,queues=2" -device virtio-net-pci,disable-legacy=on,iommu_platform=on,mq=on,vectors=6,netdev=n0,addr=05.0
    -device e1000e,addr=06.0
)
share() { # tag, host path, read-only?, PCI slot
    QEMU+=(-fsdev "local,id=$1,path=$2,security_model=none${3:+,readonly=on}" -device "virtio-9p-pci,fsdev=$1,mount_tag=$1,addr=$4")
}
share labshared "$SHARED" "" 10.0
share hostusr /usr ro 11.0
share hostetc /etc ro 12.0
share repo "$REPO" ro 13.0
share m2 "$M2" ro 14.0
[ -z "$JDK_TAG" ] || share jdk "$JDK" ro 15.0

: > "$RUN/console.log"
serve_mailbox &
MAILBOX_PID=$!
BOOT=$SECONDS
# A guest whose kernel dies before /init (an emulation hiccup under load; no test has run yet)
# is booted once more; anything later is the tests' business and is reported as it is.
for attempt in 1 2; do
    ip netns exec "$NS" "${QEMU[@]}" &
    QEMU_PID=$!
    say "QEMU started (PID $QEMU_PID, software emulation); guest console follows, budget ${TIMEOUT} s"
    tail -n +1 -F --pid="$QEMU_PID" "$RUN/console.log" 2>/dev/null | sed -u 's/\r$//; s/^/  guest| /' &
    CONSOLE_PID=$!

    # Wait for QEMU itself, or for the budget to run out, whichever ends first (bash >= 5.1).
    remaining=$((TIMEOUT - (SECONDS - BOOT)))
    [ "$remaining" -gt 0 ] || remaining=1
    sleep "$remaining" &
    BUDGET_PID=$!
    wait -n "$QEMU_PID" "$BUDGET_PID" 2>/dev/null || true
    timed_out=
    if kill -0 "$QEMU_PID" 2>/dev/null; then
        timed_out=1
        kill "$QEMU_PID" 2>/dev/null || true
    fi
    kill "$BUDGET_PID" 2>/dev/null || true
    wait "$BUDGET_PID" 2>/dev/null || true
    BUDGET_PID=
    wait "$QEMU_PID" 2>/dev/null || true
    QEMU_PID=
    wait "$CONSOLE_PID" 2>/dev/null || true
    CONSOLE_PID=
    if [ -n "$timed_out" ] || [ -f "$SHARED/guest.rc" ] || grep -q 'lab-guest:' "$RUN/console.log" || [ $attempt = 2 ]; then
        break
    fi
    mv "$RUN/console.log" "$RUN/console-attempt-$attempt.log"
    : > "$RUN/console.log"
    say "the guest kernel stopped before /init (console: $RUN/console-attempt-$attempt.log); booting it again"
done

# --- Report ----------------------------------------------------------------------------------------
echo
say "results (guest ran $((SECONDS - BOOT)) s):"
failures=0 passes=0
if [ -f "$SHARED/results.txt" ]; then
    declare -A finished=()
    while IFS=$'\t' read -r outcome name seconds message; do
        case "$outcome" in
            PASS|FAIL|SKIP)
                finished[$name]=1
                printf '  %-4s %s (%s s)%s\n' "$outcome" "$name" "$seconds" "${message:+: $message}"
                [ "$outcome" = PASS ] && passes=$((passes + 1))
                [ "$outcome" = FAIL ] && failures=$((failures + 1))
                ;;
        esac
    done < "$SHARED/results.txt"
    while IFS=$'\t' read -r outcome name _; do
        if [ "$outcome" = START ] && [ -z "${finished[$name]:-}" ]; then
            printf '  %-4s %s (did not finish)\n' "HUNG" "$name"
            failures=$((failures + 1))
        fi
    done < "$SHARED/results.txt"
fi
rc=$(cat "$SHARED/guest.rc" 2>/dev/null || echo none)
if [ -n "$timed_out" ]; then
    say "FAILED: the guest did not finish within $TIMEOUT s (ARRAKIS_LAB_TIMEOUT); console: $RUN/console.log"
    exit 1
fi
if [ "$rc" = none ]; then
    say "FAILED: the guest stopped before its test JVM finished (no guest.rc); console: $RUN/console.log"
    exit 1
fi
if [ "$rc" != 0 ] || [ "$failures" -gt 0 ] || [ "$passes" -eq 0 ]; then
    say "FAILED: $passes passed, $failures failed; test JVM exit code $rc; wall time $((SECONDS - START)) s"
    exit 1
fi
say "OK: $passes passed; wall time $((SECONDS - START)) s"
