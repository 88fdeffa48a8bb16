#!/bin/sh
# The ZFS daemon for the ZFS tests: zfs-fuse (Debian package `zfs-fuse`), a userspace ZFS (pool
# version 23) that needs no kernel module, only /dev/fuse.
#
#   tests/zfs-fuse-daemon.sh start   # nothing to do when `zpool list` already answers (zfs-fuse
#                                    # or a loaded OpenZFS module); else start zfs-fuse and wait
#                                    # until it answers (30 s at most)
#   tests/zfs-fuse-daemon.sh stop    # stop the daemon this script started, if any
#
# The ZFS tests run `start` themselves, so `cargo test` works on a fresh machine; scripts/test
# runs `stop` when it ends if the daemon was started during the suite (one that was running
# before is left alone). Pools made by the tests use cachefile=none, so a stopped daemon forgets
# them. Set BLANKROOT_ZFS_FUSE_PIDFILE to keep the pid file elsewhere.
set -eu

pidfile=${BLANKROOT_ZFS_FUSE_PIDFILE:-/run/blankroot-zfs-fuse.pid}
PATH=$PATH:/usr/sbin:/sbin

answers() {
    timeout 20 zpool list >/dev/null 2>&1
}

# The pid in the pid file, when that process is still a zfs-fuse.
ours() {
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = zfs-fuse ]
}

start() {
    # One starter at a time (tests start it in parallel); fd 9 is closed for the daemon so the
    # lock is released when this script ends.
    exec 9>"$pidfile.lock"
    flock 9
    if answers; then
        return 0
    fi
    if ! command -v zfs-fuse >/dev/null 2>&1; then
        echo "zfs-fuse is not installed: apt-get install zfs-fuse" >&2
        return 1
    fi
    if ours; then
        # Ours, but not answering: a wedged or dying daemon. Replace it.
        echo "zfs-fuse ($pid) does not answer: restarting it" >&2
        stop
    fi
    # zfs-fuse refuses to start while a pid file names a dead process.
    rm -f "$pidfile"
    [ -e /dev/fuse ] || modprobe fuse 2>/dev/null || true
    # As Debian's init script: zfs-fuse reserves a lot of address space and locks memory.
    # (dash has these ulimit options; a shell without them just keeps its limits.)
    # shellcheck disable=SC3045
    ulimit -v unlimited 2>/dev/null || true
    # shellcheck disable=SC3045
    ulimit -l unlimited 2>/dev/null || true
    zfs-fuse --pidfile "$pidfile" </dev/null >/dev/null 2>&1 9>&-
    tries=0
    until answers; do
        tries=$((tries + 1))
        if [ "$tries" -gt 300 ]; then
            echo "zfs-fuse started but did not answer within 30 s" >&2
            return 1
        fi
        sleep 0.1
    done
}

stop() {
    if ours; then
        kill "$pid" 2>/dev/null || true
        tries=0
        while [ -d "/proc/$pid" ] && [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
            tries=$((tries + 1))
            if [ "$tries" -eq 150 ]; then
                echo "zfs-fuse ($pid) did not stop within 15 s: killing it" >&2
                kill -9 "$pid" 2>/dev/null || true
            fi
            if [ "$tries" -gt 300 ]; then
                echo "zfs-fuse ($pid) is still there after SIGKILL" >&2
                return 1
            fi
            sleep 0.1
        done
        # What a killed daemon leaves: FUSE mounts nobody serves any more.
        grep -E ' fuse\.zfs | /zfs-kstat ' /proc/self/mounts | cut -d' ' -f2 | while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done
    fi
    rm -f "$pidfile"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
