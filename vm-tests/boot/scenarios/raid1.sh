# shellcheck shell=bash
# shellcheck disable=SC2154 # INITRD, OK_COMMON, BOOT_OK, BOOT_FACTS, WORK come from run.sh
# Multi-device Btrfs (issue 12), sourced by run.sh: a two-device RAID1 root (mkfs.btrfs -d raid1
# -m raid1), and the same root booted with one device missing and `degraded` set.

RAID_A=/dev/disk/by-partlabel/blankroot-a
RAID_B=/dev/disk/by-partlabel/blankroot-b

# The kernel command line of a RAID1 boot. OPTS go after subvol= into rootflags and
# mount.usrflags: the root's own mount options (fileSystems."/".options on NixOS).
raid1_cmdline() { # raid1_cmdline OPTS
	echo "root=$RAID_A rootfstype=btrfs rootflags=subvol=root,$1 mount.usr=$RAID_A mount.usrfstype=btrfs" \
		"mount.usrflags=subvol=usr,$1 brt.fs=btrfs brt.dev=$RAID_A brt.raid=1"
}

# A: both devices in the top-level mount's options, as the NixOS module derives them from
# fileSystems."/".options. With one missing: only the remaining device and `degraded`; and, as
# the control, the same without `degraded` for blankroot (the root's own mount keeps it).
need_raid1_initrd() {
	[[ -n ${INITRD[raid1]:-} ]] && return 0
	btrfs_initrd raid1 plain "$(blankroot_conf raid1 continue --device $RAID_A --blank root-blank \
		--mount-options device=$RAID_A,device=$RAID_B)"
}
need_degraded_initrds() {
	[[ -n ${INITRD[raid1-degraded]:-} ]] && return 0
	btrfs_initrd raid1-degraded degraded "$(blankroot_conf raid1-degraded continue --device $RAID_A \
		--blank root-blank --mount-options device=$RAID_A,degraded)"
	btrfs_initrd raid1-no-degraded degraded "$(blankroot_conf raid1-no-degraded continue --device $RAID_A \
		--blank root-blank --mount-options device=$RAID_A)"
}

# 9. RAID1, both devices: blankroot mounts the top level with device=A,device=B.
scenario_btrfs_raid1() {
	local t0=$SECONDS ok=1 a=$WORK/raid1-a.img b=$WORK/raid1-b.img
	need_raid1_initrd
	btrfs_raid1_disks "$a" "$b"
	run_boot btrfs-raid1 1 "${INITRD[raid1]}" "$(raid1_cmdline "device=$RAID_A,device=$RAID_B")" stage2 \
		"canary:gone,nested:gone,persist:0,status:rolled-back,rollback_unit:active/success,btrfs_devices:2,data_profiles:raid1,metadata_profiles:raid1,root_degraded:no,$OK_COMMON" \
		"$a" "$b"
	((BOOT_OK)) || ok=0
	result btrfs-raid1 "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) \
		"1 boot, two-device RAID1 (data and metadata), --mount-options device=A,device=B"
}

# 10. The RAID1 root with its second disk gone: `degraded` in rootflags and in blankroot's
# --mount-options; then, as the control, blankroot without `degraded`.
scenario_btrfs_degraded() {
	local t0=$SECONDS ok=1 a=$WORK/degraded-a.img b=$WORK/degraded-b.img cmd log
	need_degraded_initrds
	btrfs_raid1_disks "$a" "$b"
	cmd="$(raid1_cmdline "device=$RAID_A,degraded") brt.missing_dev=$RAID_B"
	run_boot btrfs-degraded 1 "${INITRD[raid1-degraded]}" "$cmd" stage2 \
		"canary:gone,nested:gone,persist:0,status:rolled-back,rollback_unit:active/success,btrfs_devices:1,root_degraded:yes,probe_degraded:ok,probe_missing_device:refused,$OK_COMMON" \
		"$a"
	((BOOT_OK)) || ok=0
	run_boot btrfs-degraded 2 "${INITRD[raid1-no-degraded]}" "$cmd" stage2 \
		"canary:boot1,nested:present,persist:1,status:failed,error:Invalid_argument__os_error_22_,status_boot:this,rollback_unit:failed/exit-code,sysroot:active,btrfs_devices:1,root_degraded:yes,order_sysroot:ok,root_writable:yes" \
		"$a"
	((BOOT_OK)) || ok=0
	log=$WORK/serial/btrfs-degraded-boot2.log
	# The kernel's reason, and blankroot's error line naming its mount options.
	if ((ok)) && ! { grep -aq 'BTRFS error .*: devid 2 uuid .* is missing' "$log" &&
		grep -aq "blankroot: mounting the top level (subvolid=5,device=$RAID_A) of $RAID_A: Invalid argument" "$log"; }; then
		log "  btrfs-degraded-boot2: the kernel's 'devid 2 ... is missing' or blankroot's mount error is not on the console"
		ok=0
	fi
	result btrfs-degraded "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) \
		"2 boots, one of two RAID1 devices missing: with degraded (rolled back), without it for blankroot (failed, root kept)"
}
