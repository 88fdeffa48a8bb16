#!/bin/bash
# Boot-time cost of blankroot.service against its floor and against the rollback service of the
# blog post "Full Disk Encryption and Impermanence on NixOS" (2025-02-15), in the same guest.
#
#   bench/boot-cost.sh [ROUNDS]      (as root; default 6 rounds = 2 x 6 boots under qemu TCG)
#
# The floor is the least any snapshot rollback does (vm-tests/boot/guest/brt-floor.c, one small
# static C process): mount the top level (subvolid=5, blankroot's mount flags), snapshot the blank
# to a new name (writable), unmount. It runs as a unit of its own in every boot, beside the
# rollback unit and on the same disk; the order of the two alternates from round to round.
# Every boot also times two process starts: `brt-floor --start` (a static C program that exits at
# once) and `blankroot --version`.
#
# Timing: systemd's own ExecMainStartTimestampMonotonic -> ExecMainExitTimestampMonotonic of each
# unit (read in the initrd by the boot tests' check unit): every unit is a oneshot started by
# the same PID 1 in the same way, so each time holds the same fork/exec/reap overhead (that is
# what `brt-floor --start` shows) and is what the boot waits for. The units run one after another
# (never beside each other, nor beside the fsck units), and each rollback unit and the floor
# drop the page cache first (ExecStartPre, outside the timed span), so each starts from the
# same cold disk.
#
# Both guests boot copies of one LUKS2 + Btrfs image, with the same kernel, the same lean dracut
# initramfs apart from the rollback unit, and the same stage 2; boots alternate (blankroot,
# script, ...) so that load on the machine hits both alike. Each boot's stage 2 checks that the
# rollback really happened (canary and nested subvolume gone) and removes the floor's snapshot.
# Caches and environment as vm-tests/boot/run.sh (docs/boot-tests.md).
# shellcheck disable=SC2016 # the awk expressions given to stats are single-quoted on purpose
set -euo pipefail

rounds=${1:-6}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || {
	echo "usage: bench/boot-cost.sh [ROUNDS]" >&2
	exit 2
}
# shellcheck source=vm-tests/boot/lib/common.sh
. "$(dirname "$0")/../vm-tests/boot/lib/common.sh"
# shellcheck source=vm-tests/boot/lib/guest.sh
. "$BOOT_DIR/lib/guest.sh"
# shellcheck source=vm-tests/boot/lib/qemu.sh
. "$BOOT_DIR/lib/qemu.sh"

[[ $(id -u) == 0 ]] || die "needs root (loop devices, mounts)"
need "$QEMU" dracut cpio cryptsetup mkfs.btrfs btrfs sfdisk losetup cc cargo
setup_dirs
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
kernel_ensure
busybox_ensure
helpers_build
blankroot_build

KEY=$WORK/cryptroot.key
head -c 64 /dev/urandom >"$KEY"
chmod 0400 "$KEY"
DEV=/dev/mapper/cryptroot
CMD="root=$DEV rootfstype=btrfs rootflags=subvol=root mount.usr=$DEV mount.usrfstype=btrfs"
CMD="$CMD mount.usrflags=subvol=usr brt.fs=btrfs brt.dev=$DEV brt.crypt=systemd-cryptsetup@cryptroot.service brt.nest=1"
FLOOR_SNAP=brt-floor
PROBES="brt-start-c.service brt-start-blankroot.service"

base_overlay() { # base_overlay DIR
	overlay_base "$1"
	install -m 0400 "$KEY" "$1/etc/cryptroot.key"
	echo "cryptroot /dev/disk/by-partlabel/blankroot /etc/cryptroot.key luks" >"$1/etc/crypttab"
	install -m 0755 "$FLOOR" "$1/usr/libexec/brt/brt-floor"
	install -m 0755 "$BLANKROOT_BIN" "$1/usr/libexec/brt/blankroot"
}

# bench_units DIR ROLLBACK_UNIT floor|rollback: the probe, cache-dropping and floor units, and a
# drop-in for the rollback unit: one chain after the disk is unlocked, the last argument's unit
# first: brt-start-c, brt-start-blankroot, brt-drop-1, FIRST, brt-drop-2, SECOND.
bench_units() {
	local rb=$2 first=$3 u=$1/usr/lib/systemd/system one=brt-floor.service
	# Before every mount of the disk: systemd mounts mount.usr= early at /sysusr/usr, and a unit
	# running beside that mount would find the filesystem mounted already (no first mount, no
	# commit at its unmount). On NixOS the rollback precedes every mount of its filesystem.
	local before="Before=sysroot.mount sysroot-usr.mount sysusr-usr.mount"
	unit() { # unit NAME AFTER COMMAND...
		local n=$1 after=$2
		shift 2
		printf '[Unit]\nDescription=blankroot bench: %s\nDefaultDependencies=no\nConditionPathExists=/etc/initrd-release\nAfter=%s\n%s\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=%s\n' \
			"$*" "$after" "$before" "$*" >"$u/$n"
		ln -sfn "../$n" "$u/initrd.target.wants/$n"
	}
	[[ $first == floor ]] || one=$rb
	# After the unlock and the fsck units, so nothing else of the boot runs beside the chain.
	unit brt-start-c.service "systemd-cryptsetup@cryptroot.service systemd-fsck-root.service systemd-fsck-usr.service" \
		/usr/libexec/brt/brt-floor --start
	unit brt-start-blankroot.service brt-start-c.service /usr/libexec/brt/blankroot --version
	unit brt-drop-1.service brt-start-blankroot.service /usr/libexec/brt/brt-floor --drop-caches
	unit brt-drop-2.service "$one" /usr/libexec/brt/brt-floor --drop-caches
	unit brt-floor.service "brt-drop-$([[ $first == floor ]] && echo 1 || echo 2).service" \
		/usr/libexec/brt/brt-floor "$DEV" root-blank "$FLOOR_SNAP"
	mkdir -p "$u/$rb.d"
	printf '[Unit]\nAfter=brt-drop-%s.service\n%s\n' "$([[ $first == floor ]] && echo 2 || echo 1)" "$before" >"$u/$rb.d/brt-bench.conf"
	# BENCH_ROLLBACK_ENV: an environment for the rollback unit (e.g. BLANKROOT_KMSG=none, to see
	# what its kernel-log records cost).
	[[ -z ${BENCH_ROLLBACK_ENV:-} ]] || printf '\n[Service]\nEnvironment=%s\n' "$BENCH_ROLLBACK_ENV" >>"$u/$rb.d/brt-bench.conf"
}

# blankroot, configured as the dracut module's users would for the post's layout.
cat >"$WORK/blankroot.conf" <<EOF
BLANKROOT_ARGS="--device $DEV --subvolume root --blank root-blank"
BLANKROOT_ON_FAILURE=continue
BLANKROOT_BEFORE=sysroot-usr.mount
BLANKROOT_BINARY=$BLANKROOT_BIN
EOF

# The post's service: its script verbatim (device `enc` renamed to cryptroot), run by bash with
# `set -e` as a NixOS `script` is, and its unit's ordering (after cryptsetup, before sysroot.mount).
script_overlay() { # script_overlay DIR
	local u=$1/usr/lib/systemd/system
	cat >"$1/usr/libexec/brt/fde-impermanence-rollback.sh" <<'EOF'
mkdir -p /mnt

# We first mount the BTRFS root to /mnt
# so we can manipulate btrfs subvolumes.
mount -o subvol=/ /dev/mapper/cryptroot /mnt

# While we're tempted to just delete /root and create
# a new snapshot from /root-blank, /root is already
# populated at this point with a number of subvolumes,
# which makes `btrfs subvolume delete` fail.
# So, we remove them first.
#
# /root contains subvolumes:
# - /root/var/lib/portables
# - /root/var/lib/machines

btrfs subvolume list -o /mnt/root |
  cut -f9 -d' ' |
  while read subvolume; do
    echo "deleting /$subvolume subvolume..."
    btrfs subvolume delete "/mnt/$subvolume"
  done &&
  echo "deleting /root subvolume..." &&
  btrfs subvolume delete /mnt/root
echo "restoring blank /root subvolume..."
btrfs subvolume snapshot /mnt/root-blank /mnt/root

# Once we're done rolling back to a blank snapshot,
# we can unmount /mnt and continue on the boot process.
umount /mnt
EOF
	cat >"$u/rollback.service" <<'EOF'
[Unit]
Description=Rollback BTRFS root subvolume to a pristine state
DefaultDependencies=no
After=systemd-cryptsetup@cryptroot.service
Before=sysroot.mount

[Service]
Type=oneshot
ExecStart=/bin/bash -e /usr/libexec/brt/fde-impermanence-rollback.sh
EOF
	ln -sfn ../rollback.service "$u/initrd.target.wants/rollback.service"
}

declare -A INITRD
for first in floor rollback; do
	d=$WORK/overlay-blankroot-$first
	base_overlay "$d"
	bench_units "$d" blankroot.service "$first"
	initrd_build "$WORK/initrd-blankroot-$first.img" "$d" "$WORK/blankroot.conf"
	INITRD[blankroot-$first]=$WORK/initrd-blankroot-$first.img
	d=$WORK/overlay-script-$first
	base_overlay "$d"
	script_overlay "$d"
	bench_units "$d" rollback.service "$first"
	initrd_build "$WORK/initrd-script-$first.img" "$d" "" --install "cut umount"
	INITRD[script-$first]=$WORK/initrd-script-$first.img
done

log "disk image (the post's layout: one level of nested subvolumes, which its script can delete)"
btrfs_disk "$WORK/base.img" yes yes "$KEY" 1
cp --sparse=always "$WORK/base.img" "$WORK/blankroot.img"
cp --sparse=always "$WORK/base.img" "$WORK/script.img"

# Per kind: one line per boot, "ORDER FLOOR_US ROLLBACK_US START_C_US START_BLANKROOT_US".
declare -A ROWS=([blankroot]="" [script]="")
fails=0
# The µs a unit's main process ran, from a BRT-TIMES line ("" unless it ran and succeeded).
span() { # span LINE UNIT
	sed -n "s/.* $2=\\([0-9]*\\),\\([0-9]*\\),success\\( .*\\)\\{0,1\\}\$/\\1 \\2/p" <<<"$1" |
		awk '$1 > 0 && $2 >= $1 { print $2 - $1 }'
}
one() { # one blankroot|script ROUND
	local kind=$1 n=$2 first unit expect name line f r c b
	first=floor
	((n % 2)) || first=rollback
	if [[ $kind == blankroot ]]; then
		unit=blankroot.service expect="status:rolled-back"
	else
		unit=rollback.service expect="status:none"
	fi
	expect="canary:gone,nested:gone,$expect,sysroot:active,order_sysroot:ok,floor_snap:removed"
	name=cost-$kind-$n
	boot_vm "$name" "${INITRD[$kind-$first]}" "$CMDLINE_BASE $CMD brt.rollback=$unit brt.scenario=cost-$kind brt.boot=$n brt.expect=$expect brt.floor_snap=$FLOOR_SNAP brt.time=brt-floor.service,$unit,${PROBES// /,}" "$WORK/$kind.img" || true
	line=$(grep -ao 'BRT-TIMES .*' "$WORK/serial/$name.log" 2>/dev/null | tr -d '\r' | tail -n1 || true)
	f=$(span "$line" brt-floor.service)
	r=$(span "$line" "$unit")
	c=$(span "$line" brt-start-c.service)
	b=$(span "$line" brt-start-blankroot.service)
	if [[ $(verdicts "$name") != "BRT-VERDICT PASS "* || -z $f || -z $r || -z $c || -z $b ]]; then
		keep_log "$name"
		log "$name: no PASS verdict or a unit failed; serial log in $LOGS/$name.serial.log: $(verdicts "$name") $line"
		fails=$((fails + 1))
		return 0
	fi
	log "$name: ${BOOT_SECONDS}s; $first first; floor $((f / 1000)) ms, $unit $((r / 1000)) ms ($(awk -v r="$r" -v f="$f" 'BEGIN { printf "%.2f", r / f }')x)"
	ROWS[$kind]+="$first $f $r $c $b"$'\n'
}

for ((r = 1; r <= rounds; r++)); do
	one blankroot "$r"
	one script "$r"
done
LOAD1=$(cut -d' ' -f1 /proc/loadavg)

# stats KIND EXPR [ORDER]: "median [min-max]" of an awk expression over a kind's boots
# ($1 order, $2 floor, $3 rollback, $4 static C start, $5 blankroot --version; µs).
stats() {
	printf '%s' "${ROWS[$1]}" | awk -v o="${3:-}" "o == \"\" || \$1 == o { print $2 }" | sort -g | awk '
		{ v[NR] = $1 } END {
			if (NR == 0) { print "-"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			if (v[NR] > 20) printf "%d [%d-%d]\n", m, v[1], v[NR]
			else printf "%.2f [%.2f-%.2f]\n", m, v[1], v[NR] }'
}
median() { stats "$@" | cut -d' ' -f1; }
count() { printf '%s' "${ROWS[$1]}" | grep -c . || true; }
bar() { # bar MS SCALE: a bar of # per SCALE ms
	local n=$((${1%.*} / $2))
	((n > 0)) || n=1
	printf '%*s' "$n" '' | tr ' ' '#'
}
row() { printf '%-48s %-22s %s\n' "$@"; }

fb=$(median blankroot '$2 / 1000') rb=$(median blankroot '$3 / 1000')
fs=$(median script '$2 / 1000') rs=$(median script '$3 / 1000')
scale=$(((rs > rb ? rs : rb) / 40 + 1))
echo
echo "Boot-time cost under qemu TCG (-smp 2 -m 1024), kernel $KVER, one LUKS2 + Btrfs image;"
echo "$(count blankroot) blankroot boots and $(count script) script boots; host load average $LOAD0 at the start, $LOAD1 at the end."
echo "Each unit's ExecMainStart -> ExecMainExit (systemd), page cache dropped before each; median [min-max]."
echo "script: the rollback service of \"Full Disk Encryption and Impermanence on NixOS\" (2025-02-15), verbatim."
row "" "blankroot boots" "script boots"
row "floor: mount subvolid=5, snapshot, unmount (ms)" "$(stats blankroot '$2 / 1000')" "$(stats script '$2 / 1000')"
row "rollback unit (ms)" "$(stats blankroot '$3 / 1000')" "$(stats script '$3 / 1000')"
row "rollback unit / floor, same boot" "$(stats blankroot '$3 / $2')" "$(stats script '$3 / $2')"
row "  when the floor ran first" "$(stats blankroot '$3 / $2' floor)" "$(stats script '$3 / $2' floor)"
row "  when the rollback unit ran first" "$(stats blankroot '$3 / $2' rollback)" "$(stats script '$3 / $2' rollback)"
row "rollback unit - floor, same boot (ms)" "$(stats blankroot '($3 - $2) / 1000')" "$(stats script '($3 - $2) / 1000')"
row "process start: brt-floor --start (ms)" "$(stats blankroot '$4 / 1000')" "$(stats script '$4 / 1000')"
row "process start: blankroot --version (ms)" "$(stats blankroot '$5 / 1000')" "$(stats script '$5 / 1000')"
cat <<EOF

medians (# = $scale ms)
  floor      $(bar "$fb" "$scale") $fb
  blankroot  $(bar "$rb" "$scale") $rb
  floor      $(bar "$fs" "$scale") $fs
  script     $(bar "$rs" "$scale") $rs
EOF
((fails == 0)) || die "$fails boots failed"
