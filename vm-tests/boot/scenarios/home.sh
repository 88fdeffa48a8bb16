# shellcheck shell=bash
# shellcheck disable=SC2154,SC2153 # KEY, WORK, OK_COMMON, CMD_LUKS, DEV_LUKS, INITRD, BOOT_OK come from run.sh
# More than / (issue 15), sourced by run.sh: /home as a second target, each over two boots with a
# canary and a nested subvolume in each target, the persist subvolume kept, a record per target.

# The initrd.conf of the root (LUKS2, delete mode) and, beside it in NAME.d/, the targets given
# as MOUNT_POINT=ARGS... (see initrd_build).
home_initrd() { # home_initrd NAME KIND ROOT_ARGS [HOME_CONF_LINES]
	local name=$1 kind=$2 conf
	conf=$(blankroot_conf "$name" continue "$3")
	rm -rf "${conf%.conf}.d"
	if [[ -n ${4:-} ]]; then
		mkdir -p "${conf%.conf}.d"
		printf '%s\n' "$4" >"${conf%.conf}.d/home.conf"
	fi
	btrfs_initrd "$name" "$kind" "$conf"
}

HOME_OK="home_canary:gone,home_status:rolled-back,home_mount_point:/home,home_status_boot:this,status_targets:1,status_check:exit0"

# 12. / and /home on one LUKS2 Btrfs: blankroot-home.service in the initrd, after blankroot.service
# and before sysroot.mount; stage 2 mounts /home.
scenario_btrfs_home() {
	local t0=$SECONDS ok=1 n img=$WORK/btrfs-home.img
	home_initrd home luks "--device $DEV_LUKS --blank root-blank" \
		"BLANKROOT_MOUNT_POINT=/home
BLANKROOT_ARGS=\"--device $DEV_LUKS --subvolume home --blank home-blank\""
	BTRFS_HOME=yes btrfs_disk "$img" yes yes "$KEY"
	for n in 1 2; do
		run_boot btrfs-home $n "${INITRD[home]}" "$CMD_LUKS brt.home=btrfs:home brt.home_unit=blankroot-home.service" stage2 \
			"canary:gone,nested:gone,persist:$((n - 1)),status:rolled-back,rollback_unit:active/success,order_crypt:ok,$OK_COMMON,$HOME_OK,home_nested:gone,home_unit:active/success,order_home_root:ok,order_home_sysroot:ok" "$img"
		((BOOT_OK)) || ok=0
		home_unit_once btrfs-home-boot$n || ok=0
	done
	result btrfs-home "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) "2 boots, / and /home on one LUKS2 Btrfs, both rolled back in the initrd"
}

# The /home unit ran exactly once in the boot.
home_unit_once() { # home_unit_once BOOT_NAME
	local runs
	runs=$(grep -ac 'Starting .*blankroot-home\.se' "$WORK/serial/$1.log" || true)
	((runs == 1)) && return 0
	log "  $1: blankroot-home.service was started $runs times (want exactly once)"
	return 1
}

# A second disk: one GPT partition `blankhome`, LUKS2 with key KEY, a Btrfs holding home (canary,
# nested subvolume) and its blank home-blank.
HOME_PART=/dev/disk/by-partlabel/blankhome
btrfs_home_disk() { # btrfs_home_disk FILE KEY
	local img=$1 off size dev mnt=$WORK/mnt-home.$$
	gpt_image "$img" 256 blankhome
	read -r off size < <(part_range "$img" 1)
	loop_attach dev "$img" "$off" $((size - LUKS_RESERVE))
	mkfs.btrfs -q -f -L blankhome "$dev" >/dev/null
	mount_tmp "$mnt" -t btrfs "$dev"
	btrfs_populate_home "$mnt"
	umount_now "$mnt"
	loop_detach "$dev"
	loop_attach dev "$img" "$off" "$size"
	cryptsetup reencrypt --encrypt --type luks2 --batch-mode --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 --key-file "$2" --sector-size 4096 \
		--reduce-device-size "${LUKS_RESERVE}" "$dev" >/dev/null
	loop_detach "$dev"
}

# 13. /home on a second LUKS2 device that only the booted system opens: not in the initramfs;
# stage 2 opens it and rolls it back with `rollback --before-mount` before mounting it, as the
# unit of `blankroot-unit.sh --booted` does (refused without the flag, and once mounted).
scenario_btrfs_home_stage2() {
	local t0=$SECONDS ok=1 n img=$WORK/btrfs-home2-root.img home=$WORK/btrfs-home2-home.img key2=$WORK/crypthome.key
	need_btrfs_initrds
	head -c 64 /dev/urandom >"$key2"
	chmod 0400 "$key2"
	USR_CRYPT_KEY=$key2 USR_CRYPT_NAME=crypthome btrfs_disk "$img" yes yes "$KEY"
	btrfs_home_disk "$home" "$key2"
	local cmd="$CMD_LUKS brt.home=btrfs:home@/dev/mapper/crypthome brt.home_luks=crypthome:$HOME_PART"
	for n in 1 2; do
		run_boot btrfs-home-stage2 $n "${INITRD[luks-continue]}" "$cmd" stage2 \
			"canary:gone,nested:gone,persist:$((n - 1)),status:rolled-back,rollback_unit:active/success,order_crypt:ok,$OK_COMMON,$HOME_OK,home_nested:gone,home_luks:open,home_no_flag:exit2,home_rollback:exit0,home_mounted_again:exit1" "$img" "$home"
		((BOOT_OK)) || ok=0
		if grep -aq 'Starting .*blankroot-home\.se' "$WORK/serial/btrfs-home-stage2-boot$n.log"; then
			log "  btrfs-home-stage2-boot$n: a blankroot-home.service ran in the initrd"
			ok=0
		fi
	done
	result btrfs-home-stage2 "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) "2 boots, /home on a second LUKS2 device opened in stage 2, rolled back there before its mount"
}

# 14. ZFS: rpool/local/root and rpool/local/home, each to its @blank, both in the initrd
# (blankroot-home.service after blankroot.service); the pool is made in boot 1.
scenario_zfs_home() {
	local scen=zfs-home t0=$SECONDS ok=1 n img usr initrd cmd expect prov facts=() why
	zfs_kernel_ensure "$KVER"
	img=$WORK/$scen.img
	usr=$WORK/$scen-usr.img
	zfs_disks "$img" "$usr" no
	initrd=$WORK/initrd-$scen.img
	ZFS_HOME_ARGS="--dataset rpool/local/home --snapshot blank" zfs_initrd "$initrd" no "--dataset rpool/local/root --snapshot blank"
	cmd="$(zfs_cmdline no) brt.zfs_home=1 brt.home=zfs:rpool/local/home brt.home_unit=blankroot-home.service"
	expect="canary:gone,status:rolled-back,rollback_unit:active/success,order_import:ok,blankroot_import:0,$ZFS_ROOT_OK,$OK_COMMON"
	expect="$expect,$HOME_OK,home_unit:active/success,order_home_root:ok,order_home_sysroot:ok,home_blank:yes"
	for n in 1 2; do
		prov=""
		((n == 1)) && prov="brt.provision=1"
		run_boot $scen $n "$initrd" "$cmd $prov" stage2 "persist:$((n - 1)),$expect" "$img" "$usr"
		((BOOT_OK)) || ok=0
		home_unit_once $scen-boot$n || ok=0
		facts+=("$BOOT_FACTS")
	done
	if ((ok)); then
		why=$(same_persist "${facts[@]}")
		[[ -z $why ]] || {
			log "  $scen: $why"
			ok=0
		}
	fi
	result $scen "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) "2 boots (pool made in boot 1), rpool/local/root and rpool/local/home, ZFS $ZFS_VERSION"
}
