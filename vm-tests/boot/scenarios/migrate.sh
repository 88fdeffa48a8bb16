# shellcheck shell=bash
# shellcheck disable=SC2154 # INITRD, CMD_PLAIN, OK_COMMON, BOOT_OK, BOOT_RUNS, WORK come from run.sh
# The migration of issue 16 (docs/migrate.md), sourced by run.sh: an installed system without a
# wiped root becomes one, and nothing it has not persisted is lost.

# 15. Boot 1: an initramfs without the rollback (the system as installed); the root holds state
# (a host key, a service's /var/lib/svc owned 1000:100 mode 0750, the canary nobody persists).
# Its stage 2 writes /etc/blankroot/config.json and, with the binary under test, runs `blankroot
# init` twice (the blank made beside the running root, then "there already") and `blankroot
# persist` of the key and the service's directory. Boot 2: the rollback in archive mode; its stage
# 2 bind-mounts the two persisted paths from the store as impermanence would and finds them as
# they were; the canary is gone from / and kept in the archive, and the blank holds the mount
# points the configuration names.
scenario_migrate() {
	local t0=$SECONDS ok=1 img=$WORK/migrate.img cmd
	need_btrfs_initrds
	if [[ -z ${INITRD[plain-none]:-} ]]; then
		btrfs_initrd plain-none plain ""
	fi
	btrfs_disk "$img" no no
	cmd="$CMD_PLAIN brt.archive_dir=old_roots"
	BOOT_RUNS=0 run_boot migrate 1 "${INITRD[plain-none]}" "$cmd brt.run=migrate" stage2 \
		"canary:boot0,nested:present,status:none,state_written:yes,init_cmd:exit0,init_made:yes,blank_ro:yes,blank_dirs:persist+usr,root_same:yes,init_again:exit0/there,persist_cmd:exit0,persisted_key:same,persisted_svc:750/1000:100" "$img"
	((BOOT_OK)) || ok=0
	run_boot migrate 2 "${INITRD[plain-archive]}" "$cmd brt.run=migrated" stage2 \
		"canary:gone,nested:gone,status:archived,archive:yes,archives:1,newest_canary:boot1,rollback_unit:active/success,$OK_COMMON,key_at_path:same,svc_at_path:same,svc_mode:750/1000:100,archived_key:same,key_mode:600,blank_ro:yes,blank_dirs:persist+usr" "$img"
	((BOOT_OK)) || ok=0
	result migrate "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) \
		"2 boots: installed without the rollback, init + persist; then wiped in archive mode, the state kept"
}
