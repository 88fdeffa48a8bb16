# shellcheck shell=bash
# shellcheck disable=SC2154 # INITRD, CMD_PLAIN, OK_COMMON, BOOT_OK, WORK come from run.sh
# `archives` and `restore` on the booted system (issue 11), sourced by run.sh.

# 14. Archive mode over two boots (--archive-dir old_roots --keep 2). Boot 1's stage 2 writes
# /var/lib/brt-restore/data (content with its boot id, mode 0640, owner 1000:100, a fixed mtime;
# a copy on persist). Boot 2 archives that root; its stage 2 runs, with the binary under test,
# `blankroot archives --json` (two archives listed) and `blankroot restore` of the file (absent on
# the wiped root): content, mode, owner and mtime as written; the same again refuses (exit 1,
# nothing replaced without --force); `--to DIR` puts it under DIR.
scenario_btrfs_restore() {
	local t0=$SECONDS ok=1 img=$WORK/btrfs-restore.img cmd
	local common="canary:gone,nested:gone,status:archived,archive:yes,rollback_unit:active/success,$OK_COMMON"
	need_btrfs_initrds
	btrfs_disk "$img" no yes
	cmd="$CMD_PLAIN brt.archive_dir=old_roots"
	run_boot btrfs-restore 1 "${INITRD[plain-archive]}" "$cmd brt.run=write-file" stage2 \
		"persist:0,archives:1,newest_canary:boot0,wrote:640/1000:100,$common" "$img"
	((BOOT_OK)) || ok=0
	run_boot btrfs-restore 2 "${INITRD[plain-archive]}" "$cmd brt.run=restore" stage2 \
		"persist:1,archives:2,newest_canary:boot1,archived_file:same,archives_cmd:exit0,archives_listed:2,restore_before:absent,restore_cmd:exit0,restored_content:same,restored_mode:640/1000:100,restored_mtime:same,restore_again:exit1,restore_to:exit0,restored_to_content:same,$common" "$img"
	((BOOT_OK)) || ok=0
	result btrfs-restore "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) \
		"2 boots, archive mode: a file of boot 1 listed and restored in boot 2 (archives, restore)"
}
