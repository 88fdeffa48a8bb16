#!/bin/bash
# Boot-time cost of blankroot.service versus the shell-script rollback service of "Full Disk
# Encryption and Impermanence on NixOS" (2025), side by
# side, on the same LUKS2 + Btrfs disk image, from systemd's own unit timestamps (journal
# monotonic times, read in the initrd by the boot tests' check unit).
#
#   bench/boot-cost.sh [ROUNDS]      (as root; default 5 rounds = 2 x 5 boots under qemu TCG)
#
# Both guests boot the same image (two copies made from one), with the same kernel, the same
# lean dracut initramfs apart from the rollback unit, and the same stage 2; boots alternate
# (blankroot, script, blankroot, ...) so that load on the machine hits both alike. Each boot's
# stage 2 checks the rollback really happened (canary and nested subvolume gone).
# Caches and environment as vm-tests/boot/run.sh (docs/boot-tests.md).
set -euo pipefail

rounds=${1:-5}
# shellcheck source=vm-tests/boot/lib/common.sh
. "$(dirname "$0")/../vm-tests/boot/lib/common.sh"
# shellcheck source=vm-tests/boot/lib/guest.sh
. "$BOOT_DIR/lib/guest.sh"
# shellcheck source=vm-tests/boot/lib/qemu.sh
. "$BOOT_DIR/lib/qemu.sh"

[[ $(id -u) == 0 ]] || die "needs root (loop devices, mounts)"
need "$QEMU" dracut cpio cryptsetup mkfs.btrfs btrfs sfdisk losetup cc cargo
setup_dirs
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

base_overlay() { # base_overlay DIR
	overlay_base "$1"
	install -m 0400 "$KEY" "$1/etc/cryptroot.key"
	echo "cryptroot /dev/disk/by-partlabel/blankroot /etc/cryptroot.key luks" >"$1/etc/crypttab"
}

# blankroot, configured as the dracut module's users would for the layout of "Full Disk Encryption and Impermanence on NixOS" (2025).
mkdir -p "$WORK/overlay-a" "$WORK/overlay-b"
base_overlay "$WORK/overlay-a"
cat >"$WORK/blankroot.conf" <<EOF
BLANKROOT_ARGS="--device $DEV --subvolume root --blank root-blank"
BLANKROOT_ON_FAILURE=continue
BLANKROOT_BEFORE=sysroot-usr.mount
BLANKROOT_BINARY=$BLANKROOT_BIN
EOF
initrd_build "$WORK/initrd-blankroot.img" "$WORK/overlay-a" "$WORK/blankroot.conf"

# The service of "Full Disk Encryption and Impermanence on NixOS" (2025): its script verbatim (device `enc` renamed to cryptroot), run by bash with
# `set -e` as a NixOS `script` is, and its unit's ordering (after cryptsetup, before sysroot.mount).
base_overlay "$WORK/overlay-b"
u=$WORK/overlay-b/usr/lib/systemd/system
cat >"$WORK/overlay-b/usr/libexec/brt/fde2025-rollback.sh" <<'EOF'
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
ExecStart=/bin/bash -e /usr/libexec/brt/fde2025-rollback.sh
EOF
ln -sfn ../rollback.service "$u/initrd.target.wants/rollback.service"
initrd_build "$WORK/initrd-script.img" "$WORK/overlay-b" "" --install "cut umount"

log "disk image (the layout of 'Full Disk Encryption and Impermanence on NixOS' (2025): one level of nested subvolumes, which the script can delete)"
btrfs_disk "$WORK/seed.img" yes yes "$KEY" 1
cp --sparse=always "$WORK/seed.img" "$WORK/a.img"
cp --sparse=always "$WORK/seed.img" "$WORK/b.img"

declare -a A_RUN A_PATH A_UP B_RUN B_PATH B_UP
fails=0
one() { # one blankroot|script ROUND
	local kind=$1 n=$2 img initrd unit expect name line s e c up
	if [[ $kind == blankroot ]]; then
		img=$WORK/a.img initrd=$WORK/initrd-blankroot.img unit=blankroot.service
		expect="canary:gone,nested:gone,status:rolled-back,sysroot:active,order_sysroot:ok"
	else
		img=$WORK/b.img initrd=$WORK/initrd-script.img unit=rollback.service
		expect="canary:gone,nested:gone,status:none,sysroot:active,order_sysroot:ok"
	fi
	name=cost-$kind-$n
	boot_vm "$name" "$initrd" "$CMDLINE_BASE $CMD brt.rollback=$unit brt.scenario=cost-$kind brt.boot=$n brt.expect=$expect" "$img" || true
	if [[ $(verdicts "$name") != "BRT-VERDICT PASS "* ]]; then
		keep_log "$name"
		log "$name: no PASS verdict; serial log in $LOGS/$name.serial.log: $(verdicts "$name")"
		fails=$((fails + 1))
		return 0
	fi
	line=$(units_line "$name")
	s=$(units_field "$line" rb_start)
	e=$(units_field "$line" rb_end)
	c=$(units_field "$line" crypt_done)
	up=$(units_field "$line" sysroot_up)
	log "$name: ${BOOT_SECONDS}s; unit ran $(((e - s) / 1000)) ms; unlocked -> /sysroot mounted $(((up - c) / 1000)) ms"
	if [[ $kind == blankroot ]]; then
		A_RUN+=($(((e - s) / 1000))) A_PATH+=($(((up - c) / 1000))) A_UP+=($((up / 1000)))
	else
		B_RUN+=($(((e - s) / 1000))) B_PATH+=($(((up - c) / 1000))) B_UP+=($((up / 1000)))
	fi
}

for ((r = 1; r <= rounds; r++)); do
	one blankroot "$r"
	one script "$r"
done

stats() { # stats VALUES...: median min max
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "- - -"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%d %d %d\n", m, v[1], v[NR] }'
}
bar() { # bar MS SCALE: a bar of # per SCALE ms
	local n=$(($1 / $2))
	((n > 0)) || n=1
	printf '%*s' "$n" '' | tr ' ' '#'
}

read -r am amin amax < <(stats "${A_RUN[@]}")
read -r bm bmin bmax < <(stats "${B_RUN[@]}")
read -r apm apmin apmax < <(stats "${A_PATH[@]}")
read -r bpm bpmin bpmax < <(stats "${B_PATH[@]}")
read -r aum _ _ < <(stats "${A_UP[@]}")
read -r bum _ _ < <(stats "${B_UP[@]}")
scale=$(((apm > bpm ? apm : bpm) / 40 + 1))
row() { printf '%-46s %-22s %s\n' "$@"; }
echo
echo "Boot-time cost under qemu TCG (-smp 2 -m 1024), $rounds boots each, kernel $KVER, same LUKS2 + Btrfs image"
row "(median [min-max], ms)" "blankroot.service" "script (FDE, 2025)"
row "rollback unit ran (ExecMainStart -> Exit)" "$am [$amin-$amax]" "$bm [$bmin-$bmax]"
row "device unlocked -> /sysroot mounted" "$apm [$apmin-$apmax]" "$bpm [$bpmin-$bpmax]"
row "/sysroot mounted, since kernel start" "$aum" "$bum"
cat <<EOF

unit run (# = $scale ms)
  blankroot  $(bar "$am" "$scale") $am
  script     $(bar "$bm" "$scale") $bm
unlocked -> /sysroot mounted
  blankroot  $(bar "$apm" "$scale") $apm
  script     $(bar "$bpm" "$scale") $bpm
EOF
((fails == 0)) || die "$fails boots failed"
