# shellcheck shell=bash
# shellcheck disable=SC2034 # variables used by the scripts that source this file
# Shared helpers for the boot tests: logging, cleanup, cache locations, loop devices.
# Sourced by run.sh and bench/boot-cost.sh; expects `set -euo pipefail` in the caller.

BOOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$BOOT_DIR/../.." && pwd)

# Caches survive runs (kernel, busybox, the ZFS chroot and the ZFS modules built for the guest
# kernel); nothing in them is specific to a checkout.
CACHE=${BLANKROOT_BOOT_CACHE:-/var/cache/blankroot-boot}
# Per-run scratch (images, initramfs); removed at exit unless BLANKROOT_BOOT_KEEP=1.
WORK=${BLANKROOT_BOOT_WORK:-}
# Serial logs of failed boots (and all boots with BLANKROOT_BOOT_KEEP=1) are copied here.
LOGS=${BLANKROOT_BOOT_LOGS:-$CACHE/logs/$(date -u +%Y%m%dT%H%M%SZ)-$$}
# One boot may take this long before qemu is killed (TCG on a loaded 2-core machine).
BOOT_TIMEOUT=${BLANKROOT_BOOT_TIMEOUT:-180}

log() { printf '[boot-tests %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# Cleanup actions, run in reverse order on every exit path.
CLEANUPS=()
on_exit() { CLEANUPS+=("$1"); }
run_cleanups() {
	local i
	for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUPS[i]}" || true
	done
	CLEANUPS=()
}
trap run_cleanups EXIT
trap 'exit 130' INT TERM

# Removes one registered cleanup after doing it now (for resources released early).
cleanup_now() {
	local want=$1 i
	for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
		if [[ ${CLEANUPS[i]} == "$want" ]]; then
			eval "$want" || true
			unset 'CLEANUPS[i]'
			CLEANUPS=("${CLEANUPS[@]}")
			return 0
		fi
	done
	eval "$want"
}

need() {
	local c missing=()
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	((${#missing[@]} == 0)) || die "missing commands: ${missing[*]} (see docs/boot-tests.md for the packages)"
}

setup_dirs() {
	mkdir -p "$CACHE"
	if [[ -z $WORK ]]; then
		WORK=$(mktemp -d "${TMPDIR:-/tmp}/blankroot-boot.XXXXXX")
		if [[ ${BLANKROOT_BOOT_KEEP:-0} != 1 ]]; then
			on_exit "rm -rf '$WORK'"
		fi
	fi
	mkdir -p "$WORK" "$LOGS"
}

# Serialises cache population between concurrent runs.
# The function runs in a subshell (traps are reset there): it gets its own cleanups.
with_cache_lock() {
	local lock=$CACHE/.lock
	(
		CLEANUPS=()
		trap run_cleanups EXIT
		flock 9
		"$@"
	) 9>"$lock"
}

# Attaches FILE (optionally a byte range of it) to a loop device, sets VAR to the device and
# registers its detach (not in $(...): the registration must happen in this shell).
# losetup -P makes no partition nodes here (no udev), hence offsets.
loop_attach() { # loop_attach VAR FILE [OFFSET SIZE]
	local _la_var=$1 _la_file=$2 _la_off=${3:-0} _la_size=${4:-0} _la_dev
	if ((_la_size > 0)); then
		_la_dev=$(losetup --find --show --offset "$_la_off" --sizelimit "$_la_size" "$_la_file")
	else
		_la_dev=$(losetup --find --show "$_la_file")
	fi
	on_exit "losetup -d '$_la_dev'"
	printf -v "$_la_var" '%s' "$_la_dev"
}

loop_detach() { cleanup_now "losetup -d '$1'"; }

mount_tmp() { # mount_tmp DIR ARGS...  (mounts, registers the unmount)
	local dir=$1
	shift
	mkdir -p "$dir"
	mount "$@" "$dir"
	on_exit "umount -l '$dir'"
}

umount_now() { cleanup_now "umount -l '$1'"; }

# Byte offset and size of partition N of a disk image, from `sfdisk --dump` (512-byte sectors).
part_range() {
	local img=$1 n=$2
	sfdisk --dump "$img" | awk -v n="$n" '
		/^[^ ]+ : / { i++; if (i != n) next
			match($0, /start= *[0-9]+/); s = substr($0, RSTART + 6, RLENGTH - 6)
			match($0, /size= *[0-9]+/); z = substr($0, RSTART + 5, RLENGTH - 5)
			printf "%d %d\n", s * 512, z * 512 }'
}

sha_of() { sha256sum "$@" | sha256sum | cut -c1-16; }
