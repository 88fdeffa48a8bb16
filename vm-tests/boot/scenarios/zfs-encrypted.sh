# shellcheck shell=bash
# shellcheck disable=SC2154 # OK_COMMON, ZFS_ROOT_OK, BOOT_OK, BOOT_FACTS, WORK, KVER, ZFS_VERSION come from run.sh
# Native ZFS encryption (issue 12), sourced by run.sh: the encrypted pool of "ZFS Impermanence in a VM" (saylesss88, 2026) (encryption on
# the pool's root dataset, keyformat=passphrase; here keylocation=file:///etc/zfs/root.key in the
# initramfs instead of a prompt), in delete and in archive mode. Each scenario runs the rollback
# once with the key NOT loaded (brt.key=late: zfs-dracut's key loading, dracut-pre-mount.service,
# masked; brt-key-late.service loads the key after blankroot, before the root is mounted) and
# once as the dracut module orders it (after zfs-dracut has loaded the key).

# The command line of a boot: late (the rollback before the key is loaded) or first (as the
# dracut module orders it); IMPORTER as for zfs_cmdline.
zfs_enc_cmdline() { # zfs_enc_cmdline late|first [zfs-dracut|blankroot]
	local c
	c="$(zfs_cmdline no "${2:-zfs-dracut}") brt.encrypt=1"
	if [[ $1 == late ]]; then
		echo "$c brt.key=late rd.systemd.mask=dracut-pre-mount.service brt.keyunit=brt-key-late.service"
	else
		echo "$c brt.keyunit=dracut-pre-mount.service"
	fi
}
# What every boot of these scenarios asserts about the key, by order.
ZFS_ENC_OK="root_encryption:aes-256-gcm,root_encroot:rpool,key_now:available"
ZFS_KEY_LATE="key_at_rollback:unavailable,order_key:rollback_first,keyunit_state:loaded/active,premount:masked/inactive"
ZFS_KEY_FIRST="key_at_rollback:available,order_key:key_first,keyunit_state:loaded/active,premount:loaded/active"

# 12. Delete mode (zfs rollback -r): boot 1 (pool made) with the key not loaded, boot 2 with it;
# boot 3 with blankroot importing the pool (--import): then zfs-dracut's key loading follows it.
scenario_zfs_encrypted() {
	local scen=zfs-encrypted t0=$SECONDS ok=1 img usr initrd initrd_import common why f1 f2 f3
	zfs_kernel_ensure "$KVER"
	img=$WORK/$scen.img
	usr=$WORK/$scen-usr.img
	zfs_disks "$img" "$usr" no
	initrd=$WORK/initrd-$scen.img
	zfs_initrd "$initrd" no "--dataset rpool/local/root --snapshot blank" yes
	initrd_import=$WORK/initrd-$scen-import.img
	zfs_initrd "$initrd_import" no "--dataset rpool/local/root --snapshot blank --import" yes
	common="canary:gone,status:rolled-back,rollback_unit:active/success,order_import:ok,blankroot_import:0,$ZFS_ENC_OK,$ZFS_ROOT_OK,$OK_COMMON"
	run_boot $scen 1 "$initrd" "$(zfs_enc_cmdline late) brt.provision=1" stage2 \
		"persist:0,$ZFS_KEY_LATE,$common" "$img" "$usr"
	((BOOT_OK)) || ok=0
	f1=$BOOT_FACTS
	run_boot $scen 2 "$initrd" "$(zfs_enc_cmdline first)" stage2 \
		"persist:1,$ZFS_KEY_FIRST,$common" "$img" "$usr"
	((BOOT_OK)) || ok=0
	f2=$BOOT_FACTS
	run_boot $scen 3 "$initrd_import" "$(zfs_enc_cmdline first blankroot)" stage2 \
		"persist:2,canary:gone,status:rolled-back,rollback_unit:active/success,order_import:na,blankroot_import:1,pool_import:zpool_import_-N_rpool,import_scan:masked/inactive,import_cache:masked/inactive,key_at_rollback:pool-not-imported,order_key:rollback_first,keyunit_state:loaded/active,premount:loaded/active,$ZFS_ENC_OK,$ZFS_ROOT_OK,$OK_COMMON" \
		"$img" "$usr"
	((BOOT_OK)) || ok=0
	f3=$BOOT_FACTS
	if ((ok)); then
		why=$(same_persist "$f1" "$f2" "$f3")
		[[ -z $why ]] || {
			log "  $scen: $why"
			ok=0
		}
	fi
	result $scen "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) \
		"3 boots (pool made in boot 1), encrypted pool, delete mode: key not loaded, loaded, --import (key loaded after), ZFS $ZFS_VERSION"
}

# 13. Archive mode (clone, rename, promote, prune) with --keep 1. Boot 1 (pool made), key not
# loaded: the archive parent does not exist yet and cannot be created without the key; creating
# it is the plan's first step, so the run fails before anything changed and the root is kept as
# it was. Boot 2, key loaded first: the parent created, the root archived. Boot 3, key not loaded: with the parent there, clone, rename, promote and the
# prune of boot 2's archive all work without it.
scenario_zfs_encrypted_archive() {
	local scen=zfs-encrypted-archive t0=$SECONDS ok=1 img usr initrd cmd common why f1 f2 f3
	zfs_kernel_ensure "$KVER"
	img=$WORK/$scen.img
	usr=$WORK/$scen-usr.img
	zfs_disks "$img" "$usr" no
	initrd=$WORK/initrd-$scen.img
	zfs_initrd "$initrd" no "--dataset rpool/local/root --snapshot blank --archive-dir rpool/local/old_roots --keep 1" yes
	cmd="brt.archive_dir=rpool/local/old_roots"
	common="order_import:ok,blankroot_import:0,$ZFS_ENC_OK,$ZFS_ROOT_OK,$OK_COMMON"
	run_boot $scen 1 "$initrd" "$(zfs_enc_cmdline late) $cmd brt.provision=1" stage2 \
		"persist:0,canary:boot0,status:failed,error:encryption_root_s_key_is_not_loaded_or_provided_,rollback_unit:failed/exit-code,archives:0,staging:none,$ZFS_KEY_LATE,$common" \
		"$img" "$usr"
	((BOOT_OK)) || ok=0
	f1=$BOOT_FACTS
	common="canary:gone,status:archived,archive:yes,status_archive:newest,archives_clones:yes,staging:none,rollback_unit:active/success,$common"
	run_boot $scen 2 "$initrd" "$(zfs_enc_cmdline first) $cmd" stage2 \
		"persist:1,archives:1,newest_canary:boot1,pruned:0,$ZFS_KEY_FIRST,$common" "$img" "$usr"
	((BOOT_OK)) || ok=0
	f2=$BOOT_FACTS
	run_boot $scen 3 "$initrd" "$(zfs_enc_cmdline late) $cmd" stage2 \
		"persist:2,archives:1,newest_canary:boot2,pruned:1,pruned_exists:no,$ZFS_KEY_LATE,$common" "$img" "$usr"
	((BOOT_OK)) || ok=0
	f3=$BOOT_FACTS
	if ((ok)); then
		why=$(same_persist "$f1" "$f2" "$f3")
		[[ $(fact_of "$f3" pruned_name) == "$(fact_of "$f2" newest_archive)" ]] ||
			why="$why; boot 3 pruned $(fact_of "$f3" pruned_name), boot 2's archive was $(fact_of "$f2" newest_archive)"
		if [[ -n $why ]]; then
			log "  $scen: ${why#; }"
			ok=0
		fi
		grep -aq "blankroot: step 1/6 (\`zfs create -o canmount=off -o mountpoint=none rpool/local/old_roots\`) failed: cannot create 'rpool/local/old_roots': encryption root's key is not loaded or provided; no step before it was done" \
			"$WORK/serial/$scen-boot1.log" || {
			log "  $scen-boot1: blankroot's error for the archive parent is not in the kernel log"
			ok=0
		}
	fi
	result $scen "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) \
		"3 boots (pool made in boot 1), encrypted pool, archive mode --keep 1: key not loaded (no parent yet: fails, root kept), loaded, not loaded, ZFS $ZFS_VERSION"
}
