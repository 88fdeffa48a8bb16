# shellcheck shell=bash
# shellcheck disable=SC2154 # INITRD, CMD_PLAIN, OK_COMMON, BOOT_OK, WORK come from run.sh
# skip-next-boot (issue 12), sourced by run.sh: the one-shot request made on the booted system,
# kept on the disk, honoured and cleared by the next boot's rollback.

# 11. Boot 1 rolls back, then (stage 2, the binary from /usr, target from
# /etc/blankroot/config.json) asks to skip the next boot: the marker is in the top level and
# `blankroot status` shows the request pending. Boot 2 leaves the root as it is (boot 1's canary
# and nested subvolumes kept), records `skipped` with the reason, and clears the marker; its
# `status` shows nothing pending. Boot 3 wipes again.
scenario_skip_next_boot() {
	local t0=$SECONDS ok=1 img=$WORK/skip-next-boot.img log
	local common="rollback_unit:active/success,$OK_COMMON"
	need_btrfs_initrds
	btrfs_disk "$img" no yes
	run_boot skip-next-boot 1 "${INITRD[plain-delete]}" "$CMD_PLAIN brt.run=skip-next-boot" stage2 \
		"canary:gone,nested:gone,persist:0,status:rolled-back,skip_marker:absent,skip_cmd:exit0,skip_marker_after:present,status_pending:yes,$common" "$img"
	((BOOT_OK)) || ok=0
	run_boot skip-next-boot 2 "${INITRD[plain-delete]}" "$CMD_PLAIN brt.run=status" stage2 \
		"canary:boot1,nested:present,persist:1,status:skipped,skip_reason:recorded,skip_marker:absent,status_pending:no,$common" "$img"
	((BOOT_OK)) || ok=0
	log=$WORK/serial/skip-next-boot-boot2.log
	if ((ok)) && ! grep -aq 'blankroot: skip-next-boot was requested at .*: the root root is left as it is this boot; clearing the request' "$log"; then
		log "  skip-next-boot-boot2: blankroot's 'skip-next-boot was requested' line is not in the kernel log"
		ok=0
	fi
	run_boot skip-next-boot 3 "${INITRD[plain-delete]}" "$CMD_PLAIN" stage2 \
		"canary:gone,nested:gone,persist:2,status:rolled-back,skip_reason:none,skip_marker:absent,$common" "$img"
	((BOOT_OK)) || ok=0
	result skip-next-boot "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) \
		"3 boots: request made in boot 1, boot 2 skipped (canary kept), boot 3 wiped"
}
