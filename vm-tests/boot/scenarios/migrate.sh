# shellcheck shell=bash
# shellcheck disable=SC2154 # INITRD, CMD_PLAIN, OK_COMMON, BOOT_OK, BOOT_RUNS, WORK come from run.sh
# The migration of issue 16 (docs/migrate.md), sourced by run.sh: an installed system without a
# wiped root becomes one, and nothing it has not persisted is lost.

# 15. Boot 1: an initramfs without the rollback (the system as installed); the root holds state
# (a host key, a service's /var/lib/svc owned 1000:100 mode 0750, the canary nobody persists).
# Its stage 2 mounts the persist subvolume on /persist, writes /etc/blankroot/config.json and, with
# the binary under test, runs the guide's commands: `blankroot init` twice (the blank made beside
# the running root, whose content stays the same; then "there already"), `diff --suggest
# impermanence` (the canary, not the persisted paths; before it, diff read in bulk and by the
# walker lists the same, for this root and for a blank's stand-in of a nested subvolume in a
# directory 1000:100 owns, which this kernel (6.1) shows root-owned: not listed), `check --strict` (exit 1: the copies are
# missing, it names `blankroot persist`), `persist` of the key and the service's directory,
# `check --strict` again (exit 0). Boot 2: the rollback in archive mode; its stage 2 mounts the
# store on the blank's /persist, bind-mounts the two persisted paths from it as impermanence
# would and finds them as they were; the canary is gone from / and kept in the archive, which
# `blankroot archives --json` lists; the blank holds the mount points the configuration names.
scenario_migrate() {
	local t0=$SECONDS ok=1 img=$WORK/migrate.img cmd
	need_btrfs_initrds
	if [[ -z ${INITRD[plain-none]:-} ]]; then
		btrfs_initrd plain-none plain ""
	fi
	btrfs_disk "$img" no no
	cmd="$CMD_PLAIN brt.archive_dir=old_roots"
	BOOT_RUNS=0 run_boot migrate 1 "${INITRD[plain-none]}" "$cmd brt.run=migrate" stage2 \
		"canary:boot0,nested:present,status:none,rollback_unit:inactive/success,state_written:yes,init_cmd:exit0,init_made:yes,blank_ro:yes,blank_dirs:persist+usr,blank_store_dir:755/0:0,root_same:yes,init_again:exit0,init_again_says:there,diff_ways_stand_in:same,stand_in_owner:2/0/0,stand_in_listed:no,diff_ways_root:same,diff_root_exit:0,suggest_cmd:exit0,suggest_canary:yes,suggest_persisted:no,check_before:exit1,check_names_persist:yes,persist_cmd:exit0,persisted_key:same,persisted_svc:750/1000:100,check_after:exit0" "$img"
	((BOOT_OK)) || ok=0
	run_boot migrate 2 "${INITRD[plain-archive]}" "$cmd brt.run=migrated" stage2 \
		"canary:gone,nested:gone,status:archived,archive:yes,archives:1,newest_canary:boot1,rollback_unit:active/success,$OK_COMMON,store_dir:755/0:0,key_at_path:same,key_mode:600,svc_at_path:same,svc_mode:750/1000:100,archived_key:same,archives_cmd:exit0,archives_listed:1,archives_newest:same,blank_ro:yes,blank_dirs:persist+usr" "$img"
	((BOOT_OK)) || ok=0
	result migrate "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) \
		"2 boots: installed without the rollback, init, diff --suggest, check, persist; then wiped in archive mode, the state kept"
}
