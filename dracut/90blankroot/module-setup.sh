#!/bin/bash
# dracut module for blankroot: installs the binary and blankroot.service, a oneshot that puts /
# back to a blank snapshot after the root device is unlocked and before /sysroot is mounted.
#
# Configuration: /etc/blankroot/initrd.conf (another file with `blankroot_config=PATH` in a
# dracut.conf.d file), read when the initramfs is built; see initrd.conf.example. More targets
# than /: one file each in /etc/blankroot/initrd.d/*.conf (`blankroot_targets_dir=DIR`), with
# BLANKROOT_MOUNT_POINT (see home.conf.example); each becomes blankroot-<path>.service. At boot,
# `rd.blankroot=0` on the kernel command line skips the rollback (the binary records "skipped").
# Needs the systemd initrd (dracut's `systemd` module): the ordering is expressed in units.

# dracut provides these when it sources this file.
# shellcheck disable=SC2154 # initdir systemdsystemunitdir moddir

# called by dracut
check() {
	local conf=${blankroot_config:-/etc/blankroot/initrd.conf}
	require_binaries systemd-escape || return 1
	# Included by default once configured; otherwise only when asked for (--add blankroot).
	[[ -r $conf ]] && return 0
	return 255
}

# called by dracut
depends() {
	echo systemd
	return 0
}

# called by dracut
install() {
	local conf=${blankroot_config:-/etc/blankroot/initrd.conf}
	local unit bin

	[[ -r $conf ]] || {
		dfatal "blankroot: $conf is missing; see $moddir/initrd.conf.example"
		exit 1
	}
	unit=$(bash "$moddir/blankroot-unit.sh" "$conf") || {
		dfatal "blankroot: $conf is not usable (see the message above)"
		exit 1
	}
	bin=$(
		BLANKROOT_BINARY=
		# shellcheck disable=SC1090
		. "$conf"
		echo "$BLANKROOT_BINARY"
	)
	[[ -n $bin ]] || bin=$(find_binary blankroot) || true
	[[ -n $bin && -x $bin ]] || {
		dfatal "blankroot: the blankroot binary was not found (set BLANKROOT_BINARY in $conf)"
		exit 1
	}
	# A static build brings no libraries along; a dynamic one gets its libraries from inst_binary.
	inst_binary "$bin" /usr/bin/blankroot || {
		dfatal "blankroot: installing $bin failed"
		exit 1
	}
	inst_simple "$conf" /etc/blankroot/initrd.conf
	blankroot_install_unit blankroot.service "$unit"

	# More targets: each its own unit, after the root's (a BLANKROOT_STAGE=booted one is not
	# in the initramfs: its unit comes from `blankroot-unit.sh --booted` in the booted system).
	local dir=${blankroot_targets_dir:-/etc/blankroot/initrd.d} f stage name
	for f in "$dir"/*.conf; do
		[[ -e $f ]] || continue
		# shellcheck disable=SC1090
		stage=$(BLANKROOT_STAGE=initrd && . "$f" && echo "$BLANKROOT_STAGE")
		if [[ $stage == booted ]]; then
			dinfo "blankroot: $f is rolled back in the booted system (BLANKROOT_STAGE=booted): install the unit of \`$moddir/blankroot-unit.sh --booted $f\` there"
			continue
		fi
		if ! unit=$(bash "$moddir/blankroot-unit.sh" "$f") || ! name=$(bash "$moddir/blankroot-unit.sh" --name "$f"); then
			dfatal "blankroot: $f is not usable (see the message above)"
			exit 1
		fi
		blankroot_install_unit "$name" "$unit"
	done
}

# Writes unit NAME with TEXT and enables it as its [Install] section says (sysroot.mount is
# generated at boot, so no systemctl).
blankroot_install_unit() { # blankroot_install_unit NAME TEXT
	local unitdir="$initdir$systemdsystemunitdir" line kind target
	mkdir -p "$unitdir"
	printf '%s\n' "$2" >"$unitdir/$1"
	while read -r line; do
		case $line in
		WantedBy=*) kind=wants ;;
		RequiredBy=*) kind=requires ;;
		*) continue ;;
		esac
		for target in ${line#*=}; do
			mkdir -p "$unitdir/$target.$kind"
			ln -sfn "../$1" "$unitdir/$target.$kind/$1"
		done
	done <<<"$2"
}
