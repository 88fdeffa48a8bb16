#!/bin/bash
# Renders a blankroot unit from a configuration file to stdout:
#
#   blankroot-unit.sh [CONF]            the initrd unit (default CONF /etc/blankroot/initrd.conf)
#   blankroot-unit.sh --booted CONF     the booted system's unit of a target whose device only
#                                       the booted system opens (BLANKROOT_STAGE=booted)
#   blankroot-unit.sh --name CONF       the unit's file name
#
# Used by module-setup.sh when the initramfs is built, and by the tests that compare its ordering
# with the units the NixOS module generates.
#
# More than /: a file with BLANKROOT_MOUNT_POINT=/home (initrd.d/*.conf beside initrd.conf) is a
# target of its own, as boot.blankroot.targets."/home" is on NixOS: its unit is
# blankroot-<path escaped>.service (blankroot-home.service), `rollback --mount-point /home ARGS`
# with its own record (/run/blankroot/status.home.json), After= blankroot.service (one target after
# the other: one lock, one top-level mount at a time), Before= sysroot.mount and
# sysroot-<path>.mount. With BLANKROOT_STAGE=booted (its LUKS device is in the booted system's
# crypttab, not the initrd's) it is not in the initramfs: `--booted` renders the unit to install
# in the booted system, `rollback --before-mount`, Before= and WantedBy= (RequiredBy= with stop)
# <path>.mount and local-fs.target, no ConditionPathExists=/etc/initrd-release.
#
# The root's unit's shape (keep in step with the NixOS module):
#   Type=oneshot, RemainAfterExit=yes (initrd-parse-etc.service reloads systemd: run once per boot),
#   DefaultDependencies=no,
#   Requires= and After= the device unit of --device,
#   After= systemd-cryptsetup@NAME.service for each crypttab name, local-fs-pre.target and
#     systemd-hibernate-resume.service (never touch a filesystem a hibernated kernel holds),
#     systemd-modules-load.service,
#   ZFS: Requires= and After= zfs-import.target (zfs-dracut imports pools in zfs-import-scan or
#     zfs-import-cache.service, both before that target; NixOS: zfs-import-POOL.service), and
#     After= dracut-pre-mount.service, where zfs-dracut loads native-encryption keys
#     (zfs-load-key.sh; NixOS loads them in zfs-import-POOL.service): the rollback and archive
#     mode's clone, rename and promote work with the key not loaded, but creating the archive
#     parent does not (docs/encrypted-zfs.md); with --import instead Before= dracut-pre-mount.service
#     (its key loading gives up on a pool that is not imported yet) and Wants=/After=
#     systemd-udev-settle.service, After= zfs-load-module.service,
#   Before= sysroot.mount and the other /sysroot mounts of the same filesystem, shutdown.target,
#   Conflicts=shutdown.target, TimeoutStartSec=10min,
#   BLANKROOT_ON_FAILURE=continue: WantedBy=sysroot.mount initrd.target (a failed rollback boots the
#                                  root as it is; blankroot status --check reports it)
#   BLANKROOT_ON_FAILURE=stop:     RequiredBy=sysroot.mount initrd.target (a failed rollback stops
#                                  the boot before the root is mounted: emergency.target).
# Both keep the unit in initrd-switch-root.target's closure, so switch-root's isolate does not
# stop it (a stop of a Requires= dependency would propagate to sysroot.mount). That isolate (and
# any later start job, e.g. after initrd-parse-etc.service's reload) starts a *failed* oneshot
# again, with /sysroot mounted: ConditionPathExists=!STATUS-FILE keeps it to one run per boot
# (the binary writes its status record on every run; /run is new each boot).
set -euo pipefail

mode=initrd
case ${1:-} in
--booted | --name)
	mode=${1#--}
	shift
	;;
esac
conf=${1:-/etc/blankroot/initrd.conf}
[[ -r $conf ]] || {
	echo "blankroot-unit: cannot read $conf" >&2
	exit 2
}

BLANKROOT_ARGS=
BLANKROOT_ON_FAILURE="continue"
BLANKROOT_CRYPTTAB_NAMES=
BLANKROOT_BEFORE=
BLANKROOT_AFTER=
BLANKROOT_MOUNT_POINT=/
BLANKROOT_STAGE=initrd
BLANKROOT_BOOTED_BINARY=/usr/bin/blankroot
# shellcheck disable=SC1090
. "$conf"

fail() {
	echo "blankroot-unit: $conf: $*" >&2
	exit 2
}

case $BLANKROOT_MOUNT_POINT in
/) ;;
*//* | */ | */./* | */../* | */. | */..)
	fail "BLANKROOT_MOUNT_POINT=$BLANKROOT_MOUNT_POINT: give a plain absolute path, e.g. /home"
	;;
/*) ;;
*) fail "BLANKROOT_MOUNT_POINT=$BLANKROOT_MOUNT_POINT: give an absolute path, e.g. /home" ;;
esac
case $BLANKROOT_MOUNT_POINT in
*[!A-Za-z0-9/_.@+-]*) fail "BLANKROOT_MOUNT_POINT=$BLANKROOT_MOUNT_POINT: only letters, digits and / _ . @ + - are supported" ;;
esac
case $BLANKROOT_STAGE in
initrd | booted) ;;
*) fail "BLANKROOT_STAGE=$BLANKROOT_STAGE: use initrd (the initrd opens its device) or booted" ;;
esac
[[ $BLANKROOT_MOUNT_POINT != / || $BLANKROOT_STAGE == initrd ]] ||
	fail "BLANKROOT_STAGE=booted is for a target other than /: the root is always rolled back in the initrd"
[[ $mode != booted || $BLANKROOT_STAGE == booted ]] ||
	fail "--booted renders the unit of a BLANKROOT_STAGE=booted target; this one is rolled back in the initrd"
[[ $mode != initrd || $BLANKROOT_STAGE == initrd ]] ||
	fail "BLANKROOT_STAGE=booted: this target is not rolled back in the initrd; render its unit for the booted system with --booted"

[[ -n $BLANKROOT_ARGS ]] || fail "BLANKROOT_ARGS is empty: give the arguments of \`blankroot rollback\`"
case $BLANKROOT_ON_FAILURE in
continue | stop) ;;
*) fail "BLANKROOT_ON_FAILURE=$BLANKROOT_ON_FAILURE: use continue or stop" ;;
esac
case $BLANKROOT_ARGS in
*[\"\'\\\$\`]*) fail "BLANKROOT_ARGS: quotes, backslashes, \$ and backticks are not supported" ;;
esac

# The device (Btrfs) or dataset (ZFS) named in the arguments.
device="" dataset="" status_file=/run/blankroot/status.json
read -ra words <<<"$BLANKROOT_ARGS"
for ((i = 0; i < ${#words[@]}; i++)); do
	w=${words[i]}
	next=${words[i + 1]:-}
	case $w in
	--device) device=$next ;;
	--device=*) device=${w#--device=} ;;
	--dataset) dataset=$next ;;
	--dataset=*) dataset=${w#--dataset=} ;;
	--status-file) status_file=$next ;;
	--status-file=*) status_file=${w#--status-file=} ;;
	--mount-point | --mount-point=* | --before-mount | --allow-outside-initrd)
		fail "BLANKROOT_ARGS: leave out $w (BLANKROOT_MOUNT_POINT names the target; the unit adds what its stage needs)"
		;;
	esac
done
[[ -n $device || -n $dataset ]] || fail "BLANKROOT_ARGS names neither --device nor --dataset"

escape() { systemd-escape "$@"; }

# A target other than /: its own unit name, record and mount units.
unit_name=blankroot.service what=/ args=$BLANKROOT_ARGS
if [[ $BLANKROOT_MOUNT_POINT != / ]]; then
	esc=$(escape --path "$BLANKROOT_MOUNT_POINT")
	unit_name=blankroot-$esc.service
	what=$BLANKROOT_MOUNT_POINT
	args="--mount-point $BLANKROOT_MOUNT_POINT $args"
	[[ $status_file != /run/blankroot/status.json ]] || status_file=/run/blankroot/status.$esc.json
fi
if [[ $mode == name ]]; then
	echo "$unit_name"
	exit 0
fi

after=() requires=()
if [[ -n $device ]]; then
	[[ $device == /dev/* ]] || fail "--device $device: give a /dev path (e.g. /dev/mapper/cryptroot or /dev/disk/by-uuid/...)"
	dev_unit=$(escape --path --suffix=device "$device")
	requires+=("$dev_unit")
	after+=("$dev_unit")
	# A /dev/mapper/NAME device is usually the crypttab entry NAME.
	if [[ -z $BLANKROOT_CRYPTTAB_NAMES && $device == /dev/mapper/* ]]; then
		BLANKROOT_CRYPTTAB_NAMES=${device#/dev/mapper/}
	fi
fi
for name in $BLANKROOT_CRYPTTAB_NAMES; do
	after+=("systemd-cryptsetup@$(escape "$name").service")
done
wants=() before=(sysroot.mount)
if [[ $BLANKROOT_MOUNT_POINT != / ]]; then
	# After the root's unit: one target after the other (one lock, one top-level mount at a time).
	after+=(blankroot.service)
	before+=("$(escape --path --suffix=mount "/sysroot$BLANKROOT_MOUNT_POINT")")
fi
if [[ -n $dataset ]]; then
	requires+=(zfs-import.target)
	after+=(zfs-import.target zfs-import-scan.service zfs-import-cache.service)
	if [[ " $BLANKROOT_ARGS " == *" --import "* ]]; then
		# blankroot imports the pool itself (--import, with zfs-dracut's import units masked): wait
		# for the devices as zfs-import-scan.service does, and for the module. zfs-dracut's key
		# loading (dracut-pre-mount.service) waits only for zfs-import.target and skips a pool
		# that is not imported: it must come after blankroot's import.
		wants+=(systemd-udev-settle.service)
		after+=(systemd-udev-settle.service zfs-load-module.service)
		before+=(dracut-pre-mount.service)
	else
		# Native encryption: zfs-dracut loads the keys in dracut-pre-mount.service. Archive mode
		# cannot create its archive parent without the key (the rollback, clone, rename and
		# promote can): run after it, as zfs-dracut's own zfs-rollback-bootfs.service does.
		after+=(dracut-pre-mount.service)
	fi
fi
after+=(local-fs-pre.target systemd-hibernate-resume.service systemd-modules-load.service)
for u in $BLANKROOT_AFTER; do after+=("$u"); done
for u in $BLANKROOT_BEFORE; do before+=("$u"); done

if [[ $mode == booted ]]; then
	# The booted system: after its device is opened, before the target's mount (which wants it
	# or, with stop, requires it); outside the initrd only through --before-mount.
	mount_unit=$(escape --path --suffix=mount "$BLANKROOT_MOUNT_POINT")
	after=("${requires[@]}")
	for n in $BLANKROOT_CRYPTTAB_NAMES; do after+=("systemd-cryptsetup@$(escape "$n").service"); done
	for u in $BLANKROOT_AFTER; do after+=("$u"); done
	cat <<EOF
# Generated by blankroot-unit.sh --booted from $conf: install it as
# /etc/systemd/system/$unit_name and run \`systemctl enable $unit_name\`.
[Unit]
Description=Put $what back to a blank snapshot before it is mounted (blankroot)
DefaultDependencies=no
EOF
	((${#requires[@]} == 0)) || echo "Requires=${requires[*]}"
	((${#after[@]} == 0)) || echo "After=${after[*]}"
	cat <<EOF
Before=$mount_unit local-fs.target shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
TimeoutStartSec=10min
ExecStart=$BLANKROOT_BOOTED_BINARY rollback --before-mount $args

[Install]
EOF
	if [[ $BLANKROOT_ON_FAILURE == stop ]]; then
		echo "RequiredBy=$mount_unit"
	else
		echo "WantedBy=$mount_unit"
	fi
	exit 0
fi

cat <<EOF
# Generated by the blankroot dracut module from $conf; rebuild the initramfs after changing it.
[Unit]
Description=Put $what back to a blank snapshot (blankroot)
ConditionPathExists=/etc/initrd-release
ConditionPathExists=!$status_file
DefaultDependencies=no
EOF
((${#requires[@]} == 0)) || echo "Requires=${requires[*]}"
((${#wants[@]} == 0)) || echo "Wants=${wants[*]}"
cat <<EOF
After=${after[*]}
Before=${before[*]} shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
TimeoutStartSec=10min
ExecStart=/usr/bin/blankroot rollback $args

[Install]
EOF
if [[ $BLANKROOT_ON_FAILURE == stop ]]; then
	echo "RequiredBy=sysroot.mount initrd.target"
else
	echo "WantedBy=sysroot.mount initrd.target"
fi
