# shellcheck shell=bash
# shellcheck disable=SC2034 # variables used by the scripts that source this file
# Guest pieces built on the host: the Debian kernel (extracted, depmod'ed), a static busybox, the
# test helpers, the static blankroot binary, the stage-2 userland, disk images and the lean
# systemd initramfs (dracut without its dracut-systemd shell hooks).

# --- kernel -------------------------------------------------------------------------------------

# The guest kernel: BLANKROOT_BOOT_KERNEL (e.g. 6.1.0-56-amd64) or what linux-image-amd64 points at.
kernel_ensure() { # sets KVER KERNEL_DIR VMLINUZ KMODDIR
	KVER=${BLANKROOT_BOOT_KERNEL:-}
	if [[ -z $KVER ]]; then
		KVER=$(apt-cache depends linux-image-amd64 2>/dev/null |
			sed -n 's/^ *Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | head -n1)
		[[ -n $KVER ]] || die "cannot resolve linux-image-amd64 (run apt-get update, or set BLANKROOT_BOOT_KERNEL)"
	fi
	KERNEL_DIR=$CACHE/kernel/$KVER
	with_cache_lock _kernel_extract
	VMLINUZ=$KERNEL_DIR/boot/vmlinuz-$KVER
	KMODDIR=$KERNEL_DIR/lib/modules/$KVER
}

_kernel_extract() {
	[[ -f $KERNEL_DIR/.complete ]] && return 0
	log "kernel: downloading and extracting linux-image-$KVER"
	mkdir -p "$CACHE/debs"
	(cd "$CACHE/debs" && apt-get download -q "linux-image-$KVER" >/dev/null 2>&1) ||
		die "apt-get download linux-image-$KVER failed"
	rm -rf "$KERNEL_DIR.new"
	mkdir -p "$KERNEL_DIR.new"
	local deb
	for deb in "$CACHE/debs/linux-image-${KVER}_"*.deb; do :; done
	dpkg-deb -x "$deb" "$KERNEL_DIR.new"
	depmod -b "$KERNEL_DIR.new" "$KVER"
	touch "$KERNEL_DIR.new/.complete"
	rm -rf "$KERNEL_DIR"
	mv "$KERNEL_DIR.new" "$KERNEL_DIR"
	rm -f "$CACHE/debs/linux-image-${KVER}_"*.deb
}

# --- busybox and helpers ------------------------------------------------------------------------

busybox_ensure() { # sets BUSYBOX (a static busybox from Debian's busybox-static)
	with_cache_lock _busybox_extract
	BUSYBOX=$CACHE/busybox/bin/busybox
}

_busybox_extract() {
	[[ -x $CACHE/busybox/bin/busybox ]] && return 0
	log "busybox: downloading busybox-static"
	local tmp
	tmp=$(mktemp -d "$CACHE/.busybox.XXXXXX")
	(cd "$tmp" && apt-get download -q busybox-static >/dev/null 2>&1) || die "apt-get download busybox-static failed"
	dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/x"
	mkdir -p "$CACHE/busybox/bin"
	cp "$tmp/x/bin/busybox" "$CACHE/busybox/bin/busybox.new"
	mv "$CACHE/busybox/bin/busybox.new" "$CACHE/busybox/bin/busybox"
	rm -rf "$tmp"
}

helpers_build() { # sets MKSUBVOL FLOOR
	MKSUBVOL=$WORK/tools/brt-mksubvol
	FLOOR=$WORK/tools/brt-floor
	mkdir -p "$WORK/tools"
	cc -static -O2 -Wall -o "$MKSUBVOL" "$BOOT_DIR/guest/brt-mksubvol.c"
	cc -static -O2 -Wall -o "$FLOOR" "$BOOT_DIR/guest/brt-floor.c"
}

# The binary under test: BLANKROOT_BOOT_BINARY, or the static release build of this checkout
# (scripts/build-static, the same build the rest of the suite checks; cargo reuses it).
blankroot_build() { # sets BLANKROOT_BIN
	if [[ -n ${BLANKROOT_BOOT_BINARY:-} ]]; then
		BLANKROOT_BIN=$BLANKROOT_BOOT_BINARY
	elif [[ -x $REPO_DIR/scripts/build-static ]]; then
		log "blankroot: static release build (scripts/build-static)"
		BLANKROOT_BIN=$("$REPO_DIR/scripts/build-static") || die "scripts/build-static failed"
	else
		local target=${CARGO_TARGET_DIR:-$REPO_DIR/target}
		log "blankroot: static release build (target dir $target)"
		(cd "$REPO_DIR" && RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR=$target \
			cargo build -q --release --target x86_64-unknown-linux-gnu) >&2 ||
			die "cargo build of the static binary failed"
		BLANKROOT_BIN=$target/x86_64-unknown-linux-gnu/release/blankroot
	fi
	[[ -x $BLANKROOT_BIN ]] || die "no blankroot binary at $BLANKROOT_BIN"
	ldd "$BLANKROOT_BIN" 2>&1 | grep -qE 'statically linked|not a dynamic executable' ||
		die "$BLANKROOT_BIN is not statically linked: $(ldd "$BLANKROOT_BIN" 2>&1 | head -n3)"
}

# Busybox applet links in DIR pointing at TARGET.
busybox_links() { # busybox_links DIR TARGET
	local a
	mkdir -p "$1"
	for a in $("$BUSYBOX" --list); do
		[[ -e $1/$a ]] || ln -s "$2" "$1/$a"
	done
}

# The stage-2 userland (the contents of the `usr` subvolume or disk: the role /nix plays on NixOS).
usr_tree() { # usr_tree DIR
	local d=$1
	mkdir -p "$d/bin" "$d/libexec/brt" "$d/lib"
	cp "$BUSYBOX" "$d/bin/busybox"
	busybox_links "$d/bin" busybox
	cp "$MKSUBVOL" "$d/bin/brt-mksubvol"
	# The binary under test, for the commands run on the booted system (skip-next-boot, archives,
	# restore).
	cp "$BLANKROOT_BIN" "$d/bin/blankroot"
	install -m 0755 "$BOOT_DIR/guest/brt-guest" "$d/libexec/brt/brt-guest"
	[[ -z ${USR_CRYPT_KEY:-} ]] || usr_cryptsetup "$d"
	printf '#!/usr/bin/busybox sh\nexec /usr/bin/busybox sh /usr/libexec/brt/brt-guest stage2\n' >"$d/init"
	chmod 0755 "$d/init"
	printf 'NAME="blankroot boot test"\nID=blankroot-test\nPRETTY_NAME="blankroot boot test stage 2"\n' >"$d/lib/os-release"
}

# Test-only: the host's cryptsetup with its libraries and the key USR_CRYPT_KEY (as NAME.key,
# NAME from USR_CRYPT_NAME) for stage 2, which opens a LUKS device the initrd does not.
usr_cryptsetup() { # usr_cryptsetup USR_DIR
	local c=$1/libexec/brt/crypt lib
	mkdir -p "$c"
	cp /usr/sbin/cryptsetup "$c/"
	for lib in $(ldd /usr/sbin/cryptsetup | grep -o '/[^ ]*'); do cp -L "$lib" "$c/"; done
	install -m 0400 "$USR_CRYPT_KEY" "$1/libexec/brt/$USR_CRYPT_NAME.key"
}

# --- disks --------------------------------------------------------------------------------------

LUKS_RESERVE=$((32 << 20))

# A GPT disk image with one partition named LABEL over the whole disk.
gpt_image() { # gpt_image FILE SIZE_MIB LABEL
	rm -f "$1"
	truncate -s "$2M" "$1"
	printf 'label: gpt\nstart=2048, name=%s\n' "$3" | sfdisk -q "$1" >/dev/null
}

# The subvolumes of every Btrfs test filesystem, in its mounted top level MNT: root (a canary and
# nested subvolumes NEST_DEPTH deep), root-blank (read-only, taken from the empty root; left out
# with blank=no), usr (stage 2), persist (a boot log).
btrfs_populate() { # btrfs_populate MNT blank=yes|no [NEST_DEPTH]
	local mnt=$1 blank=$2 depth=${3:-2}
	btrfs -q subvolume create "$mnt/root" >/dev/null
	[[ $blank == yes ]] && btrfs -q subvolume snapshot -r "$mnt/root" "$mnt/root-blank" >/dev/null
	mkdir -p "$mnt/root/etc" "$mnt/root/srv"
	echo boot0 >"$mnt/root/etc/canary"
	btrfs -q subvolume create "$mnt/root/srv/nested" >/dev/null
	echo x >"$mnt/root/srv/nested/file"
	if ((depth > 1)); then
		btrfs -q subvolume create "$mnt/root/srv/nested/deeper" >/dev/null
		echo x >"$mnt/root/srv/nested/deeper/file"
	fi
	btrfs -q subvolume create "$mnt/usr" >/dev/null
	usr_tree "$mnt/usr"
	btrfs -q subvolume create "$mnt/persist" >/dev/null
	: >"$mnt/persist/bootlog"
	[[ $BTRFS_HOME != yes ]] || btrfs_populate_home "$mnt"
}
BTRFS_HOME=no

# A `home` subvolume (BTRFS_HOME=yes) with its read-only blank `home-blank`, a canary and a
# nested subvolume: the second target of the /home scenarios.
btrfs_populate_home() { # btrfs_populate_home MNT
	btrfs -q subvolume create "$1/home" >/dev/null
	btrfs -q subvolume snapshot -r "$1/home" "$1/home-blank" >/dev/null
	mkdir -p "$1/home/alice"
	echo boot0 >"$1/home/alice/canary"
	btrfs -q subvolume create "$1/home/alice/nested" >/dev/null
	echo x >"$1/home/alice/nested/file"
}

# The Btrfs test disk (see btrfs_populate), one GPT partition named `blankroot`. With luks=yes
# the partition is encrypted in place afterwards (LUKS2, key file KEY).
btrfs_disk() { # btrfs_disk FILE luks=yes|no blank=yes|no [KEY [NEST_DEPTH]]
	local img=$1 luks=$2 blank=$3 key=${4:-} depth=${5:-2} off size fssize dev mnt
	gpt_image "$img" 448 blankroot
	read -r off size < <(part_range "$img" 1)
	fssize=$size
	[[ $luks == yes ]] && fssize=$((size - LUKS_RESERVE))
	loop_attach dev "$img" "$off" "$fssize"
	mkfs.btrfs -q -f -L blankroot "$dev" >/dev/null
	mnt=$WORK/mnt.$$
	mount_tmp "$mnt" -t btrfs "$dev"
	btrfs_populate "$mnt" "$blank" "$depth"
	umount_now "$mnt"
	loop_detach "$dev"
	if [[ $luks == yes ]]; then
		loop_attach dev "$img" "$off" "$size"
		cryptsetup reencrypt --encrypt --type luks2 --batch-mode --pbkdf pbkdf2 \
			--pbkdf-force-iterations 1000 --key-file "$key" --sector-size 4096 \
			--reduce-device-size "${LUKS_RESERVE}" "$dev" >/dev/null
		loop_detach "$dev"
	fi
}

# A two-device Btrfs RAID1 filesystem (data and metadata: mkfs.btrfs -d raid1 -m raid1) over two
# disks, partitions named blankroot-a and blankroot-b, with the subvolumes of btrfs_populate.
btrfs_raid1_disks() { # btrfs_raid1_disks FILE_A FILE_B
	local a=$1 b=$2 off size dev_a dev_b mnt
	gpt_image "$a" 448 blankroot-a
	gpt_image "$b" 448 blankroot-b
	read -r off size < <(part_range "$a" 1)
	loop_attach dev_a "$a" "$off" "$size"
	read -r off size < <(part_range "$b" 1)
	loop_attach dev_b "$b" "$off" "$size"
	mkfs.btrfs -q -f -L blankroot -d raid1 -m raid1 "$dev_a" "$dev_b" >/dev/null
	mnt=$WORK/mnt.$$
	mount_tmp "$mnt" -t btrfs -o "device=$dev_a,device=$dev_b" "$dev_a"
	btrfs_populate "$mnt" yes
	umount_now "$mnt"
	# The kernel keeps scanned devices registered; forget them before the loop devices go.
	btrfs device scan -u "$dev_a" >/dev/null 2>&1 || true
	btrfs device scan -u "$dev_b" >/dev/null 2>&1 || true
	loop_detach "$dev_b"
	loop_detach "$dev_a"
}

# --- initramfs ----------------------------------------------------------------------------------

# A private dracut tree: the host's modules plus ours (the host's dracut is not modified).
dracut_tree() { # sets DRACUT_BASE
	DRACUT_BASE=$WORK/dracut
	[[ -d $DRACUT_BASE ]] && return 0
	cp -a /usr/lib/dracut "$DRACUT_BASE"
	cp -a "$REPO_DIR/dracut/90blankroot" "$DRACUT_BASE/modules.d/90blankroot"
}

# The test-only parts of every initramfs: busybox for the checks, the check and emergency units,
# module loading. Extra files come from the caller (crypttab, keys, provisioning).
overlay_base() { # overlay_base DIR
	local d=$1 u=$1/usr/lib/systemd/system
	mkdir -p "$d/usr/libexec/brt" "$u/initrd.target.wants" "$d/etc/modules-load.d"
	cp "$BUSYBOX" "$d/usr/libexec/brt/busybox"
	busybox_links "$d/usr/libexec/brt/bin" ../busybox
	install -m 0755 "$BOOT_DIR/guest/brt-guest" "$d/usr/libexec/brt/brt-guest"
	cp "$BOOT_DIR/guest/brt-check.service" "$u/"
	ln -sfn ../brt-check.service "$u/initrd.target.wants/brt-check.service"
	# The lean initramfs has no emergency.service (dracut-systemd brings one); emergency.target
	# requires it. The test's own prints the verdict from the initrd and powers off.
	cp "$BOOT_DIR/guest/brt-emergency.service" "$u/emergency.service"
	printf '%s\n' virtio_pci virtio_blk dm_crypt btrfs >"$d/etc/modules-load.d/brt.conf"
}

overlay_luks() { # overlay_luks DIR UUID KEY NAME
	mkdir -p "$1/etc"
	install -m 0400 "$3" "$1/etc/$4.key"
	printf '%s UUID=%s /etc/%s.key luks\n' "$4" "$2" "$4" >"$1/etc/crypttab"
}

# The lean host-built initramfs. CONF: the blankroot initrd.conf ("" = no blankroot module).
initrd_build() { # initrd_build OUT OVERLAY CONF [extra dracut args...]
	local out=$1 overlay=$2 conf=$3 confdir mods
	shift 3
	dracut_tree
	confdir=$(mktemp -d "$WORK/dracut.conf.XXXXXX")
	: >"$confdir/empty.conf"
	mods="bash systemd systemd-initrd systemd-modules-load crypt btrfs kernel-modules udev-rules base"
	if [[ -n $conf ]]; then
		printf 'blankroot_config="%s"\n' "$conf" >"$confdir/blankroot.conf"
		# More targets: NAME.d/*.conf beside NAME.conf.
		[[ ! -d ${conf%.conf}.d ]] || printf 'blankroot_targets_dir="%s"\n' "${conf%.conf}.d" >>"$confdir/blankroot.conf"
		mods="$mods blankroot"
	fi
	dracutbasedir=$DRACUT_BASE dracut --quiet --force --kver "$KVER" --kmoddir "$KMODDIR" \
		--conf "$confdir/empty.conf" --confdir "$confdir" \
		--no-hostonly --no-hostonly-cmdline --no-early-microcode \
		--modules "$mods" --omit "dracut-systemd" \
		--drivers "virtio_pci virtio_blk dm_crypt btrfs" \
		--include "$overlay" / --no-compress "$@" "$out" >"$out.log" 2>&1 || {
		tail -n 30 "$out.log" >&2
		die "dracut failed for $out (log above)"
	}
}

# File list of an initramfs image (one uncompressed cpio: --no-compress, no early microcode).
initrd_list() { # initrd_list IMG
	cpio -it --quiet <"$1" | sort
}
