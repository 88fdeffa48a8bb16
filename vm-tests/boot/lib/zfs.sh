# shellcheck shell=bash
# shellcheck disable=SC2016,SC2153 # dpkg-query formats; KVER comes from guest.sh
# OpenZFS for the guest: a debootstrap chroot with zfsutils-linux and zfs-dracut (they conflict
# with the host's zfs-fuse), the kernel modules built by zfs-dkms for the guest kernel (cached by
# kernel ABI and ZFS version: ~10 min to build on 2 cores), and the ZFS initramfs built in the chroot.

# Debian mirror and suite for the chroot: the host's own (override with BLANKROOT_BOOT_MIRROR,
# BLANKROOT_BOOT_SECURITY_MIRROR, BLANKROOT_BOOT_SUITE).
apt_mirrors() {
	local uris
	uris=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources | grep -oE 'https?://[^ ]+' || true)
	MIRROR=${BLANKROOT_BOOT_MIRROR:-$(grep -E '/debian/?$' <<<"$uris" | head -n1)}
	SECURITY_MIRROR=${BLANKROOT_BOOT_SECURITY_MIRROR:-$(grep -E '/debian-security/?$' <<<"$uris" | head -n1)}
	# shellcheck disable=SC1091
	SUITE=${BLANKROOT_BOOT_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
	MIRROR=${MIRROR:-http://deb.debian.org/debian}
	SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
}

# Packages of the chroot that builds the ZFS initramfs (the kernel comes from the host-side
# extraction, bind-mounted in; zfs-dkms is added only when the module cache misses).
ZFS_CHROOT_PACKAGES="zfsutils-linux zfs-dracut dracut-core systemd udev cryptsetup-bin dmsetup kmod btrfs-progs"

chroot_mount_api() { # chroot_mount_api DIR
	local d=$1
	mount_tmp "$d/proc" -t proc proc
	mount_tmp "$d/sys" -t sysfs sysfs
	mount_tmp "$d/dev" --bind /dev
}

chroot_umount_api() {
	local d=$1
	umount_now "$d/dev"
	umount_now "$d/sys"
	umount_now "$d/proc"
}

in_chroot() { # in_chroot DIR CMD...
	local d=$1
	shift
	chroot "$d" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive "$@"
}

_zfs_chroot_build() {
	local dir=$1 new=$1.new
	if [[ -f $dir/.complete ]]; then
		# A cached chroot from an older package list gets what is missing.
		# shellcheck disable=SC2086
		in_chroot "$dir" dpkg -s $ZFS_CHROOT_PACKAGES >/dev/null 2>&1 && return 0
		log "ZFS chroot: installing packages added since it was made"
		chroot_mount_api "$dir"
		# shellcheck disable=SC2086
		in_chroot "$dir" sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $ZFS_CHROOT_PACKAGES && apt-get clean" \
			>"$WORK/chroot-apt.log" 2>&1 || {
			tail -n 30 "$WORK/chroot-apt.log" >&2
			chroot_umount_api "$dir"
			die "updating the ZFS chroot failed (log above)"
		}
		chroot_umount_api "$dir"
		return 0
	fi
	need debootstrap
	apt_mirrors
	log "ZFS chroot: debootstrap $SUITE from $MIRROR into $dir (cold cache: a few minutes)"
	rm -rf "$new"
	debootstrap --variant=minbase --components=main,contrib "$SUITE" "$new" "$MIRROR" \
		>"$WORK/debootstrap.log" 2>&1 || {
		tail -n 30 "$WORK/debootstrap.log" >&2
		die "debootstrap failed (log above)"
	}
	cat >"$new/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main contrib
deb $MIRROR $SUITE-updates main contrib
deb $SECURITY_MIRROR $SUITE-security main contrib
EOF
	printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d"
	chmod +x "$new/usr/sbin/policy-rc.d"
	chroot_mount_api "$new"
	# shellcheck disable=SC2086
	in_chroot "$new" sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $ZFS_CHROOT_PACKAGES" \
		>"$WORK/chroot-apt.log" 2>&1 || {
		tail -n 30 "$WORK/chroot-apt.log" >&2
		chroot_umount_api "$new"
		die "installing ZFS userland in the chroot failed (log above)"
	}
	chroot_umount_api "$new"
	in_chroot "$new" apt-get clean
	touch "$new/.complete"
	rm -rf "$dir"
	mv "$new" "$dir"
}

zfs_chroot_ensure() { # sets ZFS_CHROOT, ZFS_VERSION
	ZFS_CHROOT=$CACHE/zfs-chroot/$(
		apt_mirrors
		echo "$SUITE"
	)
	with_cache_lock _zfs_chroot_build "$ZFS_CHROOT"
	ZFS_VERSION=$(in_chroot "$ZFS_CHROOT" dpkg-query -W -f '${Version}' zfsutils-linux)
}

_zfs_modules_build() {
	local kver=$1 out=$2 upstream dkmsdir
	[[ -f $out/.complete ]] && return 0
	log "ZFS modules: building zfs-dkms $ZFS_VERSION for $kver in the chroot (cold cache: ~10 min)"
	chroot_mount_api "$ZFS_CHROOT"
	in_chroot "$ZFS_CHROOT" sh -c "apt-get install -y -q --no-install-recommends linux-headers-$kver zfs-dkms=$ZFS_VERSION" \
		>"$WORK/dkms-install.log" 2>&1 || {
		tail -n 30 "$WORK/dkms-install.log" >&2
		chroot_umount_api "$ZFS_CHROOT"
		die "installing zfs-dkms in the chroot failed (log above)"
	}
	upstream=${ZFS_VERSION#*:}
	upstream=${upstream%%-*}
	dkmsdir=/var/lib/dkms/zfs/$upstream/$kver/x86_64/module
	if ! ls "$ZFS_CHROOT$dkmsdir"/*.ko >/dev/null 2>&1; then
		in_chroot "$ZFS_CHROOT" dkms build "zfs/$upstream" -k "$kver" >"$WORK/dkms-build.log" 2>&1 || {
			tail -n 30 "$WORK/dkms-build.log" >&2
			chroot_umount_api "$ZFS_CHROOT"
			die "dkms build of zfs/$upstream for $kver failed (log above)"
		}
	fi
	chroot_umount_api "$ZFS_CHROOT"
	rm -rf "$out.new"
	mkdir -p "$out.new"
	cp "$ZFS_CHROOT$dkmsdir"/*.ko "$out.new/"
	touch "$out.new/.complete"
	rm -rf "$out"
	mv "$out.new" "$out"
	in_chroot "$ZFS_CHROOT" apt-get clean
}

# The guest kernel's module tree plus the ZFS modules, depmod'ed (hard links to the base tree).
zfs_kernel_ensure() { # zfs_kernel_ensure KVER; sets ZFS_KMODDIR
	local kver=$1 ko
	zfs_chroot_ensure
	ko=$CACHE/zfs-ko/$kver/$ZFS_VERSION
	with_cache_lock _zfs_modules_build "$kver" "$ko"
	ZFS_KMODDIR=$CACHE/kernel/$kver+zfs-$ZFS_VERSION
	with_cache_lock _zfs_kernel_tree "$kver" "$ko" "$ZFS_KMODDIR"
	log "ZFS $ZFS_VERSION modules for $kver: $(find "$ko" -name '*.ko' | wc -l) files (cached in $ko)"
}

_zfs_kernel_tree() {
	local kver=$1 ko=$2 dir=$3
	[[ -f $dir/.complete ]] && return 0
	rm -rf "$dir.new"
	mkdir -p "$dir.new/lib/modules"
	cp -al "$KERNEL_DIR/lib/modules/$kver" "$dir.new/lib/modules/"
	mkdir -p "$dir.new/lib/modules/$kver/updates/zfs"
	cp "$ko"/*.ko "$dir.new/lib/modules/$kver/updates/zfs/"
	# depmod replaces its outputs (new inodes), so the hard-linked base tree is not touched.
	rm -f "$dir.new/lib/modules/$kver"/modules.*.bin "$dir.new/lib/modules/$kver"/modules.{dep,alias,symbols,softdep,devname,builtin.alias}
	depmod -b "$dir.new" "$kver"
	touch "$dir.new/.complete"
	rm -rf "$dir"
	mv "$dir.new" "$dir"
}

# --- ZFS disks, initramfs, command line ---------------------------------------------------------

ZFS_POOL_PART=/dev/disk/by-partlabel/blankroot-pool

# The pool disk (one GPT partition, empty or LUKS2-formatted; the pool is made in the guest) and
# the stage-2 userland on a second small Btrfs disk (/dev/vdb, mounted by mount.usr=).
zfs_disks() { # zfs_disks IMG USR_IMG luks=yes|no
	local img=$1 usr=$2 luks=$3 off size dev
	gpt_image "$img" 448 blankroot-pool
	if [[ $luks == yes ]]; then
		read -r off size < <(part_range "$img" 1)
		loop_attach dev "$img" "$off" "$size"
		cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
			--sector-size 4096 --key-file "$KEY" "$dev" >/dev/null
		loop_detach "$dev"
	fi
	rm -rf "$WORK/usr-tree"
	usr_tree "$WORK/usr-tree"
	rm -f "$usr"
	truncate -s 128M "$usr"
	mkfs.btrfs -q -f -L brt-usr --rootdir "$WORK/usr-tree" "$usr" >/dev/null
}

# Who imports the pool: zfs-dracut (zfs-import-scan.service; no cache file in the initrd) or
# blankroot (--import): then zfs-dracut's two import units are masked on the command line with
# rd.systemd.mask= (systemd-debug-generator, in the initrd, ignores plain systemd.mask= there: it
# is for the booted system), zfs-import.target is reached without an import, and blankroot, which
# requires that target, finds the pool not imported and imports it itself.
zfs_cmdline() { # zfs_cmdline luks=yes|no [zfs-dracut|blankroot]
	local c="root=zfs:rpool/local/root mount.usr=/dev/vdb mount.usrfstype=btrfs brt.fs=zfs"
	c="$c brt.persist=rpool/safe/persist"
	if [[ ${2:-zfs-dracut} == blankroot ]]; then
		c="$c rd.systemd.mask=zfs-import-scan.service rd.systemd.mask=zfs-import-cache.service"
	else
		c="$c brt.import=zfs-import-scan.service"
	fi
	[[ $1 == yes ]] && c="$c brt.crypt=systemd-cryptsetup@cryptpool.service"
	echo "$c"
}

# Test-only pieces for native encryption (see zfs_initrd).
zfs_overlay_encryption() { # zfs_overlay_encryption OVERLAY
	local ov=$1 u=$1/usr/lib/systemd/system
	mkdir -p "$ov/etc/zfs" "$u/blankroot.service.d"
	printf '%s' "$ZFS_PASSPHRASE" >"$ov/etc/zfs/root.key"
	chmod 0400 "$ov/etc/zfs/root.key"
	cat >"$u/blankroot.service.d/brt-key.conf" <<UNIT
# Test-only (boot tests): the state of the root's key (keystatus of its encryption root) as the
# rollback starts, in /run/brt/key-at-rollback. Never fails the unit.
[Service]
ExecStartPre=-/usr/libexec/brt/busybox sh /usr/libexec/brt/brt-guest key-status
UNIT
	cat >"$u/brt-key-late.service" <<UNIT
# Test-only (boot tests): with brt.key=late (and zfs-dracut's key loading, dracut-pre-mount.service,
# masked with rd.systemd.mask=), the root's key is loaded only after blankroot has run, before the
# root is mounted: the rollback runs with the key NOT loaded.
[Unit]
Description=blankroot boot test: load the ZFS key after the rollback
DefaultDependencies=no
ConditionKernelCommandLine=brt.key=late
After=zfs-import.target blankroot.service
Before=sysroot.mount initrd-root-fs.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/libexec/brt/busybox sh /usr/libexec/brt/brt-guest key-load
UNIT
	ln -sfn ../brt-key-late.service "$u/initrd.target.wants/brt-key-late.service"
}

# The ZFS initramfs, built by the chroot's dracut (zfs-dracut needs dracut-systemd) with the
# blankroot module and the guest kernel plus the ZFS modules bind-mounted in. ARGS: blankroot's
# (BLANKROOT_ARGS). With --import in ARGS, blankroot.service also waits for the pool's device:
# zfs-dracut's import (masked then, see zfs_cmdline) is what waits for udev otherwise.
# With enc=yes (native encryption, see brt-zfs-provision): the passphrase file /etc/zfs/root.key,
# a drop-in that records the key's state when blankroot starts, and brt-key-late.service, which
# (with brt.key=late) loads the key after blankroot has run.
zfs_initrd() { # zfs_initrd OUT luks=yes|no ARGS [enc=yes|no]  (the chroot is shared: one build at a time)
	with_cache_lock _zfs_initrd "$@"
}

# The passphrase of the encrypted pool (test-only).
ZFS_PASSPHRASE=blankroot-boot-test-passphrase

_zfs_initrd() {
	local out=$1 luks=$2 args=$3 enc=${4:-no} c=$ZFS_CHROOT b ov pooldev devunit
	b=$c/tmp/brt
	rm -rf "$b"
	mkdir -p "$b/conf.d"
	ov=$b/overlay
	overlay_base "$ov"
	echo zfs >>"$ov/etc/modules-load.d/brt.conf"
	pooldev=$ZFS_POOL_PART
	if [[ $luks == yes ]]; then
		install -m 0400 "$KEY" "$ov/etc/cryptpool.key"
		echo "cryptpool $ZFS_POOL_PART /etc/cryptpool.key luks" >"$ov/etc/crypttab"
		pooldev=/dev/mapper/cryptpool
	fi
	install -m 0755 "$BOOT_DIR/guest/brt-zfs-provision" "$ov/usr/libexec/brt/brt-zfs-provision"
	# An opened LUKS device with nothing recognisable on it is SYSTEMD_READY=0 (99-systemd.rules):
	# its .device unit never appears before the pool exists, so wait for the unlock instead.
	devunit=$(systemd-escape --path --suffix=device "$pooldev")
	[[ $luks == yes ]] && devunit=systemd-cryptsetup@cryptpool.service
	cat >"$ov/usr/lib/systemd/system/brt-zfs-provision.service" <<UNIT
# Test-only (boot tests): create the pool in the first boot.
[Unit]
Description=blankroot boot test: create the ZFS pool
DefaultDependencies=no
ConditionKernelCommandLine=brt.provision=1
Requires=$devunit
After=$devunit systemd-modules-load.service systemd-udev-settle.service cryptsetup.target
Before=zfs-import-scan.service zfs-import-cache.service zfs-import.target dracut-pre-mount.service blankroot.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/libexec/brt/busybox sh /usr/libexec/brt/brt-zfs-provision $pooldev
UNIT
	ln -sfn ../brt-zfs-provision.service "$ov/usr/lib/systemd/system/initrd.target.wants/brt-zfs-provision.service"
	if [[ " $args " == *" --import "* ]]; then
		mkdir -p "$ov/usr/lib/systemd/system/blankroot.service.d"
		cat >"$ov/usr/lib/systemd/system/blankroot.service.d/brt-import.conf" <<UNIT
# Test-only (boot tests): blankroot imports the pool (--import) and zfs-dracut's import units are
# masked; they were what waited for udev (systemd-udev-settle.service), and zfs-import.target,
# which blankroot.service requires, is reached without them: wait for the pool's device here.
# (zfs-dracut's key loading, dracut-pre-mount.service, comes after blankroot.service: the dracut
# module orders it so with --import.)
[Unit]
Requires=$devunit
After=$devunit
UNIT
	fi
	[[ $enc == yes ]] && zfs_overlay_encryption "$ov"
	cp "$BLANKROOT_BIN" "$b/blankroot"
	{
		echo "BLANKROOT_ARGS=\"$args\""
		echo 'BLANKROOT_ON_FAILURE=continue'
		[[ $luks == yes ]] && echo 'BLANKROOT_CRYPTTAB_NAMES=cryptpool'
		echo 'BLANKROOT_BINARY=/tmp/brt/blankroot'
	} >"$b/initrd.conf"
	echo 'blankroot_config=/tmp/brt/initrd.conf' >"$b/conf.d/blankroot.conf"
	# A second target, /home (ZFS_HOME_ARGS: its BLANKROOT_ARGS), rolled back in the initrd too.
	if [[ -n ${ZFS_HOME_ARGS:-} ]]; then
		mkdir -p "$b/initrd.d"
		printf 'BLANKROOT_MOUNT_POINT=/home\nBLANKROOT_ARGS="%s"\n' "$ZFS_HOME_ARGS" >"$b/initrd.d/home.conf"
		echo 'blankroot_targets_dir=/tmp/brt/initrd.d' >>"$b/conf.d/blankroot.conf"
	fi
	: >"$b/empty.conf"
	rm -rf "$c/usr/lib/dracut/modules.d/90blankroot"
	cp -a "$REPO_DIR/dracut/90blankroot" "$c/usr/lib/dracut/modules.d/90blankroot"
	mkdir -p "$c/lib/modules/$KVER"
	mount_tmp "$c/lib/modules/$KVER" --bind "$ZFS_KMODDIR/lib/modules/$KVER"
	chroot_mount_api "$c"
	in_chroot "$c" dracut --quiet --force --kver "$KVER" --conf /tmp/brt/empty.conf --confdir /tmp/brt/conf.d \
		--no-hostonly --no-hostonly-cmdline --no-early-microcode \
		--modules "bash systemd systemd-initrd systemd-modules-load dracut-systemd crypt zfs btrfs kernel-modules udev-rules base blankroot" \
		--drivers "virtio_pci virtio_blk dm_crypt btrfs zfs" \
		--include /tmp/brt/overlay / --no-compress /tmp/brt/initrd.img >"$out.log" 2>&1 || {
		tail -n 30 "$out.log" >&2
		chroot_umount_api "$c"
		umount_now "$c/lib/modules/$KVER"
		die "dracut (in the ZFS chroot) failed for $out (log above)"
	}
	chroot_umount_api "$c"
	umount_now "$c/lib/modules/$KVER"
	mv "$b/initrd.img" "$out"
	rm -rf "$b"
	log "initramfs $(basename "$out"): $(du -m "$out" | cut -f1) MB (ZFS $ZFS_VERSION, dracut in the chroot)"
}
