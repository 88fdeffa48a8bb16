#!/bin/bash
# Real boot tests for blankroot: the static binary in a systemd initramfs built by dracut (with
# the blankroot dracut module), booted under qemu (TCG) on LUKS2 + Btrfs and on OpenZFS.
#
#   vm-tests/boot/run.sh [SCENARIO...]      (as root; default: all scenarios)
#
# Scenarios: unit-order btrfs-luks btrfs-archive btrfs-restore missing-blank cmdline-skip
#            static-binary btrfs-raid1 btrfs-degraded skip-next-boot zfs zfs-luks zfs-archive
#            zfs-import zfs-encrypted zfs-encrypted-archive btrfs-home btrfs-home-stage2 zfs-home
#            migrate
# Environment: BLANKROOT_BOOT_CACHE (default /var/cache/blankroot-boot), BLANKROOT_BOOT_LOGS,
# BLANKROOT_BOOT_WORK, BLANKROOT_BOOT_KEEP=1, BLANKROOT_BOOT_TIMEOUT (s per boot, default 180),
# BLANKROOT_BOOT_DEADLINE (s; no boot starts later, default 2400),
# BLANKROOT_BOOT_BINARY (test this binary instead of building one), BLANKROOT_BOOT_KERNEL,
# BLANKROOT_BOOT_SKIP_ZFS=1. See docs/boot-tests.md.
set -euo pipefail

# shellcheck source=vm-tests/boot/lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=vm-tests/boot/lib/guest.sh
. "$BOOT_DIR/lib/guest.sh"
# shellcheck source=vm-tests/boot/lib/qemu.sh
. "$BOOT_DIR/lib/qemu.sh"
# shellcheck source=vm-tests/boot/lib/zfs.sh
. "$BOOT_DIR/lib/zfs.sh"
# shellcheck source=vm-tests/boot/scenarios/raid1.sh
. "$BOOT_DIR/scenarios/raid1.sh"
# shellcheck source=vm-tests/boot/scenarios/skip.sh
. "$BOOT_DIR/scenarios/skip.sh"
# shellcheck source=vm-tests/boot/scenarios/zfs-encrypted.sh
. "$BOOT_DIR/scenarios/zfs-encrypted.sh"
# shellcheck source=vm-tests/boot/scenarios/restore.sh
. "$BOOT_DIR/scenarios/restore.sh"
# shellcheck source=vm-tests/boot/scenarios/home.sh
. "$BOOT_DIR/scenarios/home.sh"
# shellcheck source=vm-tests/boot/scenarios/migrate.sh
. "$BOOT_DIR/scenarios/migrate.sh"

ALL_SCENARIOS="unit-order btrfs-luks static-binary btrfs-archive btrfs-restore missing-blank cmdline-skip btrfs-raid1 btrfs-degraded skip-next-boot zfs zfs-luks zfs-archive zfs-import zfs-encrypted zfs-encrypted-archive btrfs-home btrfs-home-stage2 zfs-home migrate"

usage() {
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

SCENARIOS=()
for a in "$@"; do
	case $a in
	-h | --help) usage ;;
	*)
		[[ " $ALL_SCENARIOS " == *" $a "* ]] || die "unknown scenario $a (known: $ALL_SCENARIOS)"
		SCENARIOS+=("$a")
		;;
	esac
done
((${#SCENARIOS[@]})) || read -ra SCENARIOS <<<"$ALL_SCENARIOS"
if [[ ${BLANKROOT_BOOT_SKIP_ZFS:-0} == 1 ]]; then
	mapfile -t SCENARIOS < <(printf '%s\n' "${SCENARIOS[@]}" | grep -v '^zfs')
fi
wants() { [[ " ${SCENARIOS[*]} " == *" $1 "* ]]; }

[[ $(id -u) == 0 ]] || die "needs root (loop devices, mounts, chroot)"
need "$QEMU" dracut cpio cryptsetup mkfs.btrfs btrfs sfdisk losetup cc cargo apt-get dpkg-deb depmod flock timeout systemd-escape
setup_dirs
SUITE_T0=$(date +%s)

# --- results ------------------------------------------------------------------------------------

PASSED=0 FAILED=0 TIMED_OUT=""
# No new boot starts after this many seconds (CI has 90 minutes for all the project's tests).
DEADLINE=${BLANKROOT_BOOT_DEADLINE:-2400}
SUMMARY=()
TIMINGS=()
result() { # result SCENARIO PASS|FAIL SECONDS DETAIL
	SUMMARY+=("$(printf '%-14s %-4s %6ss  %s' "$1" "$2" "$3" "$4")")
	if [[ $2 == PASS ]]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
	log "scenario $1: $2 ($3 s) $4"
}

# run_boot SCEN N INITRD CMDLINE STAGE EXPECT DISK...: one boot; checks that exactly one verdict
# line came, from STAGE, and says PASS, and that the rollback unit started BOOT_RUNS times (default
# 1; 0 for an initramfs without it). Sets BOOT_OK (1/0) and BOOT_FACTS.
run_boot() {
	local scen=$1 n=$2 initrd=$3 cmdline=$4 stage=$5 expect=$6 rc=0 v name
	shift 6
	name=$scen-boot$n
	BOOT_OK=0
	BOOT_FACTS=""
	# After a hung boot the next ones of the scenario would hang too: save CI's time.
	if [[ " $TIMED_OUT " == *" $scen "* ]]; then
		log "  $name: not booted (an earlier boot of $scen timed out)"
		return 0
	fi
	if (($(date +%s) - SUITE_T0 > DEADLINE)); then
		log "  $name: not booted (the suite is past its deadline of ${DEADLINE}s, BLANKROOT_BOOT_DEADLINE)"
		return 0
	fi
	boot_vm "$name" "$initrd" \
		"$CMDLINE_BASE $cmdline brt.scenario=$scen brt.boot=$n brt.expect=$expect" "$@" || rc=$?
	v=$(verdicts "$name")
	BOOT_FACTS=$v
	BOOT_OK=0
	if ((rc == 124 || rc == 137)); then
		log "  $name: TIMEOUT after ${BOOT_TIMEOUT}s"
		TIMED_OUT="$TIMED_OUT $scen"
	elif [[ -z $v ]]; then
		log "  $name: no verdict line (qemu exit $rc)"
	elif (($(grep -c . <<<"$v") != 1)); then
		log "  $name: $(grep -c . <<<"$v") verdict lines (want one): $v"
	elif [[ $v != "BRT-VERDICT PASS "* ]]; then
		log "  $name: $v"
	elif [[ $v != *" stage=$stage "* ]]; then
		log "  $name: verdict from the wrong stage (want $stage): $v"
	else
		BOOT_OK=1
	fi
	# The rollback runs once per boot: never again once the root is mounted (a second start job,
	# e.g. from the isolate to initrd-switch-root.target, would run it on a mounted root).
	local runs
	runs=$(grep -ac 'Starting .*\(blankroot\|rollback\)\.service' "$WORK/serial/$name.log" || true)
	if ((BOOT_OK && runs != ${BOOT_RUNS:-1})); then
		log "  $name: the rollback unit was started $runs times in this boot (want ${BOOT_RUNS:-1})"
		BOOT_OK=0
	fi
	local u
	u=$(units_line "$name")
	TIMINGS+=("$name $BOOT_SECONDS $u")
	if ((BOOT_OK)); then
		log "  $name: PASS in ${BOOT_SECONDS}s: ${v#BRT-VERDICT PASS }"
		[[ ${BLANKROOT_BOOT_KEEP:-0} == 1 ]] && keep_log "$name"
	else
		keep_log "$name"
		log "  $name: FAIL in ${BOOT_SECONDS}s; serial log kept in $LOGS/$name.serial.log"
	fi
	return 0
}

# --- shared guest pieces ------------------------------------------------------------------------

kernel_ensure
busybox_ensure
helpers_build
blankroot_build
# dracut strips binaries (do_strip=yes): the initramfs holds `strip` of the built file.
strip -o "$WORK/blankroot.stripped" "$BLANKROOT_BIN"
BINARY_SHA=$(sha256sum "$WORK/blankroot.stripped" | cut -c1-16)
log "guest kernel $KVER; blankroot $BLANKROOT_BIN (sha256 $BINARY_SHA)"

KEY=$WORK/cryptroot.key
head -c 64 /dev/urandom >"$KEY"
chmod 0400 "$KEY"

# Every Btrfs disk has one GPT partition named `blankroot`: one crypttab serves all LUKS images.
DEV_PLAIN=/dev/disk/by-partlabel/blankroot
DEV_LUKS=/dev/mapper/cryptroot
CRYPT_UNIT=systemd-cryptsetup@cryptroot.service
btrfs_cmdline() { # btrfs_cmdline DEV
	echo "root=$1 rootfstype=btrfs rootflags=subvol=root mount.usr=$1 mount.usrfstype=btrfs" \
		"mount.usrflags=subvol=usr brt.fs=btrfs brt.dev=$1"
}
CMD_LUKS="$(btrfs_cmdline $DEV_LUKS) brt.crypt=$CRYPT_UNIT"
CMD_PLAIN="$(btrfs_cmdline $DEV_PLAIN)"

blankroot_conf() { # blankroot_conf NAME ON_FAILURE ARGS...: writes an initrd.conf, prints its path
	local f=$WORK/conf/$1.conf
	shift
	mkdir -p "$WORK/conf"
	{
		echo "BLANKROOT_ON_FAILURE=$1"
		shift
		echo "BLANKROOT_ARGS=\"$*\""
		echo "BLANKROOT_BEFORE=sysroot-usr.mount"
		echo "BLANKROOT_BINARY=$BLANKROOT_BIN"
	} >"$f"
	echo "$f"
}

declare -A INITRD=()
# btrfs_initrd NAME luks|plain|degraded CONF: a lean initramfs for the Btrfs scenarios (degraded:
# plain, with a udev rule that lets a Btrfs member with a missing device be used).
btrfs_initrd() {
	local name=$1 kind=$2 conf=$3 ov=$WORK/overlay/$1
	rm -rf "$ov"
	overlay_base "$ov"
	if [[ $kind == luks ]]; then
		mkdir -p "$ov/etc"
		install -m 0400 "$KEY" "$ov/etc/cryptroot.key"
		echo "cryptroot $DEV_PLAIN /etc/cryptroot.key luks" >"$ov/etc/crypttab"
	elif [[ $kind == degraded ]]; then
		mkdir -p "$ov/etc/udev/rules.d"
		cp "$BOOT_DIR/guest/99-brt-btrfs-degraded.rules" "$ov/etc/udev/rules.d/"
	fi
	local t0=$SECONDS
	initrd_build "$WORK/initrd-$name.img" "$ov" "$conf"
	INITRD[$name]=$WORK/initrd-$name.img
	log "initramfs $name: $((SECONDS - t0)) s, $(du -m "${INITRD[$name]}" | cut -f1) MB"
}

need_btrfs_initrds() {
	[[ -n ${INITRD[luks-continue]:-} ]] && return 0
	btrfs_initrd luks-continue luks "$(blankroot_conf luks-continue continue --device $DEV_LUKS --blank root-blank)"
	btrfs_initrd luks-stop luks "$(blankroot_conf luks-stop stop --device $DEV_LUKS --blank root-blank)"
	btrfs_initrd plain-archive plain "$(blankroot_conf plain-archive continue --device $DEV_PLAIN --blank root-blank --archive-dir old_roots --keep 2)"
	btrfs_initrd plain-delete plain "$(blankroot_conf plain-delete continue --device $DEV_PLAIN --blank root-blank)"
}

# Expectations every stage-2 boot of a working rollback shares.
OK_COMMON="sysroot:active,status_boot:this,order_sysroot:ok,order_usr:ok,static:ok,binary_sha:$BINARY_SHA,root_writable:yes"
# ZFS, from the initrd: the root still has what zfs-dracut's zfsutil mount needs, owns the blank
# and is no clone.
ZFS_ROOT_OK="root_canmount:noauto,root_mountpoint:/,root_origin:none,root_blank:yes"

# --- scenarios ----------------------------------------------------------------------------------

scenario_unit_order() {
	local t0=$SECONDS out
	if out=$(bash "$BOOT_DIR/unit-order.sh" 2>&1); then
		result unit-order PASS $((SECONDS - t0)) "$(tail -n1 <<<"$out")"
	else
		printf '%s\n' "$out" >&2
		result unit-order FAIL $((SECONDS - t0)) "$(tail -n1 <<<"$out")"
	fi
}

# 1. LUKS2 + Btrfs: canary, persist, nested subvolumes, order after cryptsetup, before sysroot.mount.
scenario_btrfs_luks() {
	local t0=$SECONDS ok=1 n img=$WORK/btrfs-luks.img
	need_btrfs_initrds
	btrfs_disk "$img" yes yes "$KEY"
	for n in 1 2; do
		run_boot btrfs-luks $n "${INITRD[luks-continue]}" "$CMD_LUKS" stage2 \
			"canary:gone,nested:gone,persist:$((n - 1)),status:rolled-back,rollback_unit:active/success,order_crypt:ok,$OK_COMMON" "$img"
		((BOOT_OK)) || ok=0
		S1_FACTS+=("$BOOT_FACTS")
	done
	result btrfs-luks "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) "2 boots, LUKS2 + Btrfs, delete mode"
}
S1_FACTS=()

# 5. The static binary: nothing but its own file enters the initramfs for it, and it runs there
# in an empty chroot (checked in the boots of scenario 1).
scenario_static_binary() {
	local t0=$SECONDS ok=1 ov=$WORK/overlay/luks-continue base=$WORK/initrd-baseline.img added removed want sha
	need_btrfs_initrds
	initrd_build "$base" "$ov" ""
	added=$(comm -13 <(initrd_list "$base") <(initrd_list "${INITRD[luks-continue]}") | tr '\n' ' ')
	removed=$(comm -23 <(initrd_list "$base") <(initrd_list "${INITRD[luks-continue]}") | tr '\n' ' ')
	want="etc/blankroot etc/blankroot/initrd.conf usr/bin/blankroot usr/lib/systemd/system/blankroot.service usr/lib/systemd/system/initrd.target.wants/blankroot.service usr/lib/systemd/system/sysroot.mount.wants usr/lib/systemd/system/sysroot.mount.wants/blankroot.service "
	if [[ $added != "$want" || -n $removed ]]; then
		log "  static-binary: the blankroot module added [$added] removed [$removed]; want exactly [$want]"
		ok=0
	fi
	sha=$(cd "$WORK" && cpio -i --quiet --to-stdout usr/bin/blankroot <"${INITRD[luks-continue]}" | sha256sum | cut -c1-16)
	[[ $sha == "$BINARY_SHA" ]] || {
		log "  static-binary: /usr/bin/blankroot in the initramfs is not the built binary, stripped ($sha)"
		ok=0
	}
	if ((${#S1_FACTS[@]} < 2)); then
		log "  static-binary: needs the two boots of btrfs-luks (run it too)"
		ok=0
	else
		for f in "${S1_FACTS[@]}"; do
			[[ $f == *" static=ok "* && $f == *" binary_sha=$BINARY_SHA "* ]] || {
				log "  static-binary: in-guest check failed: $f"
				ok=0
			}
		done
	fi
	result static-binary "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) \
		"initramfs adds only [${added% }]; ran in an empty chroot in ${#S1_FACTS[@]} boots"
}

# 2. Archive mode, --keep 2, over three boots.
scenario_btrfs_archive() {
	local t0=$SECONDS ok=1 img=$WORK/btrfs-archive.img
	local common="canary:gone,nested:gone,status:archived,archive:yes,rollback_unit:active/success,newest_nested:kept,$OK_COMMON"
	need_btrfs_initrds
	btrfs_disk "$img" no yes
	run_boot btrfs-archive 1 "${INITRD[plain-archive]}" "$CMD_PLAIN brt.archive_dir=old_roots" stage2 \
		"persist:0,archives:1,newest_canary:boot0,pruned:0,$common" "$img"
	((BOOT_OK)) || ok=0
	run_boot btrfs-archive 2 "${INITRD[plain-archive]}" "$CMD_PLAIN brt.archive_dir=old_roots" stage2 \
		"persist:1,archives:2,newest_canary:boot1,oldest_canary:boot0,pruned:0,$common" "$img"
	((BOOT_OK)) || ok=0
	run_boot btrfs-archive 3 "${INITRD[plain-archive]}" "$CMD_PLAIN brt.archive_dir=old_roots" stage2 \
		"persist:2,archives:2,newest_canary:boot2,oldest_canary:boot1,pruned:1,$common" "$img"
	((BOOT_OK)) || ok=0
	result btrfs-archive "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) "3 boots, --archive-dir old_roots --keep 2"
}

# 3. No blank snapshot: "continue" boots the root as it was, "stop" keeps it unmounted.
scenario_missing_blank() {
	local t0=$SECONDS ok=1 img=$WORK/missing-blank.img
	local failed="status:failed,status_boot:this,rollback_unit:failed/exit-code,order_crypt:ok"
	need_btrfs_initrds
	btrfs_disk "$img" yes no "$KEY"
	run_boot missing-blank 1 "${INITRD[luks-continue]}" "$CMD_LUKS" stage2 \
		"canary:boot0,nested:present,persist:0,sysroot:active,root_writable:yes,$failed" "$img"
	((BOOT_OK)) || ok=0
	run_boot missing-blank 2 "${INITRD[luks-stop]}" "$CMD_LUKS" initrd-emergency \
		"canary:boot1,persist:1,sysroot:inactive,$failed" "$img"
	((BOOT_OK)) || ok=0
	grep -aq 'stage=stage2' "$WORK/serial/missing-blank-boot2.log" && {
		log "  missing-blank-boot2: stage 2 ran although the policy is stop"
		ok=0
	}
	run_boot missing-blank 3 "${INITRD[luks-continue]}" "$CMD_LUKS" stage2 \
		"canary:boot1,nested:present,persist:1,sysroot:active,$failed" "$img"
	((BOOT_OK)) || ok=0
	result missing-blank "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) "3 boots: continue, stop, continue"
}

# 4. rd.blankroot=0 skips the rollback; the next boot without it wipes again.
scenario_cmdline_skip() {
	local t0=$SECONDS ok=1 img=$WORK/cmdline-skip.img
	need_btrfs_initrds
	btrfs_disk "$img" no yes
	run_boot cmdline-skip 1 "${INITRD[plain-delete]}" "$CMD_PLAIN rd.blankroot=0" stage2 \
		"canary:boot0,nested:present,persist:0,status:skipped,rollback_unit:active/success,$OK_COMMON" "$img"
	((BOOT_OK)) || ok=0
	run_boot cmdline-skip 2 "${INITRD[plain-delete]}" "$CMD_PLAIN" stage2 \
		"canary:gone,nested:gone,persist:1,status:rolled-back,rollback_unit:active/success,$OK_COMMON" "$img"
	((BOOT_OK)) || ok=0
	result cmdline-skip "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) "2 boots: rd.blankroot=0, then without"
}

# The value of KEY in a verdict line ("" when absent).
fact_of() { # fact_of LINE KEY
	sed -n "s/.* $2=\\([^ ]*\\).*/\\1/p" <<<"$1"
}

# The same persist dataset (guid) in every boot of a ZFS scenario: prints "" or what is wrong.
same_persist() { # same_persist VERDICT...
	local f g first=""
	for f in "$@"; do
		g=$(fact_of "$f" persist_guid)
		[[ -n $g && $g != none ]] || {
			echo "no persist_guid in a boot"
			return 0
		}
		first=${first:-$g}
		[[ $g == "$first" ]] || {
			echo "persist_guid changed: $first -> $g"
			return 0
		}
	done
}

# 6. OpenZFS root (zfs-dracut), plain and on LUKS; the pool is made in the first boot.
scenario_zfs() { # scenario_zfs zfs|zfs-luks
	local scen=$1 t0=$SECONDS ok=1 luks=no n img usr cmd initrd expect why facts=()
	[[ $scen == zfs-luks ]] && luks=yes
	zfs_kernel_ensure "$KVER"
	img=$WORK/$scen.img
	usr=$WORK/$scen-usr.img
	zfs_disks "$img" "$usr" "$luks"
	initrd=$WORK/initrd-$scen.img
	zfs_initrd "$initrd" "$luks" "--dataset rpool/local/root --snapshot blank"
	cmd=$(zfs_cmdline "$luks")
	expect="canary:gone,status:rolled-back,rollback_unit:active/success,order_import:ok,blankroot_import:0,$ZFS_ROOT_OK,$OK_COMMON"
	[[ $luks == yes ]] && expect="$expect,order_crypt:ok,order_crypt_import:ok"
	for n in 1 2; do
		local prov=""
		((n == 1)) && prov="brt.provision=1"
		run_boot "$scen" $n "$initrd" "$cmd $prov" stage2 "persist:$((n - 1)),$expect" "$img" "$usr"
		((BOOT_OK)) || ok=0
		facts+=("$BOOT_FACTS")
	done
	if ((ok)); then
		why=$(same_persist "${facts[@]}")
		[[ -z $why ]] || {
			log "  $scen: $why"
			ok=0
		}
	fi
	result "$scen" "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) "2 boots (pool made in boot 1), ZFS $ZFS_VERSION$([[ $luks == yes ]] && echo ', pool on LUKS2')"
}

# 7. Archive mode on OpenZFS in the initrd (the host tests run it on zfs-fuse, an old ZFS in user
# space): clone, rename, promote and prune by the kernel module, the new root then mounted by
# zfs-dracut (zfsutil); --keep 2 over three boots; the pool is made in boot 1.
scenario_zfs_archive() {
	local scen=zfs-archive t0=$SECONDS ok=1 img usr initrd cmd common why f1 f2 f3
	zfs_kernel_ensure "$KVER"
	img=$WORK/$scen.img
	usr=$WORK/$scen-usr.img
	zfs_disks "$img" "$usr" no
	initrd=$WORK/initrd-$scen.img
	zfs_initrd "$initrd" no "--dataset rpool/local/root --snapshot blank --archive-dir rpool/local/old_roots --keep 2"
	cmd="$(zfs_cmdline no) brt.archive_dir=rpool/local/old_roots"
	common="canary:gone,status:archived,archive:yes,status_archive:newest,archives_clones:yes,rollback_unit:active/success"
	common="$common,order_import:ok,blankroot_import:0,$ZFS_ROOT_OK,$OK_COMMON"
	run_boot $scen 1 "$initrd" "$cmd brt.provision=1" stage2 \
		"persist:0,archives:1,newest_canary:boot0,pruned:0,$common" "$img" "$usr"
	((BOOT_OK)) || ok=0
	f1=$BOOT_FACTS
	run_boot $scen 2 "$initrd" "$cmd" stage2 \
		"persist:1,archives:2,newest_canary:boot1,oldest_canary:boot0,pruned:0,$common" "$img" "$usr"
	((BOOT_OK)) || ok=0
	f2=$BOOT_FACTS
	run_boot $scen 3 "$initrd" "$cmd" stage2 \
		"persist:2,archives:2,newest_canary:boot2,oldest_canary:boot1,pruned:1,pruned_exists:no,$common" "$img" "$usr"
	((BOOT_OK)) || ok=0
	f3=$BOOT_FACTS
	# Across boots: boot 3 pruned the oldest archive boot 2 saw (boot 1's, holding boot 0's canary),
	# and boot 2's newest archive is boot 3's oldest.
	if ((ok)); then
		why=$(same_persist "$f1" "$f2" "$f3")
		[[ $(fact_of "$f3" pruned_name) == "$(fact_of "$f2" oldest_archive)" ]] ||
			why="$why; boot 3 pruned $(fact_of "$f3" pruned_name), boot 2's oldest archive was $(fact_of "$f2" oldest_archive)"
		[[ $(fact_of "$f3" oldest_archive) == "$(fact_of "$f2" newest_archive)" ]] ||
			why="$why; boot 3's oldest archive is $(fact_of "$f3" oldest_archive), boot 2's newest was $(fact_of "$f2" newest_archive)"
		if [[ -n $why ]]; then
			log "  $scen: ${why#; }"
			ok=0
		fi
	fi
	result $scen "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) "3 boots (pool made in boot 1), --archive-dir rpool/local/old_roots --keep 2, ZFS $ZFS_VERSION"
}

# 8. blankroot imports the pool itself (--import): zfs-dracut's import units masked.
scenario_zfs_import() {
	local scen=zfs-import t0=$SECONDS ok=1 n img usr initrd cmd expect why prov facts=()
	zfs_kernel_ensure "$KVER"
	img=$WORK/$scen.img
	usr=$WORK/$scen-usr.img
	zfs_disks "$img" "$usr" no
	initrd=$WORK/initrd-$scen.img
	zfs_initrd "$initrd" no "--dataset rpool/local/root --snapshot blank --import"
	cmd=$(zfs_cmdline no blankroot)
	# blankroot logged its import, the pool's last import is `zpool import -N rpool` (blankroot's;
	# zfs-dracut's would be `-aN -o cachefile=none`), both of zfs-dracut's import units are masked.
	expect="canary:gone,status:rolled-back,rollback_unit:active/success,order_import:na,blankroot_import:1"
	expect="$expect,pool_import:zpool_import_-N_rpool,import_scan:masked/inactive,import_cache:masked/inactive"
	expect="$expect,$ZFS_ROOT_OK,$OK_COMMON"
	for n in 1 2; do
		prov=""
		((n == 1)) && prov="brt.provision=1"
		run_boot $scen $n "$initrd" "$cmd $prov" stage2 "persist:$((n - 1)),$expect" "$img" "$usr"
		((BOOT_OK)) || ok=0
		facts+=("$BOOT_FACTS")
	done
	if ((ok)); then
		why=$(same_persist "${facts[@]}")
		[[ -z $why ]] || {
			log "  $scen: $why"
			ok=0
		}
		grep -aq 'blankroot: importing pool rpool: zpool import -N rpool' "$WORK/serial/$scen-boot2.log" || {
			log "  $scen: no 'blankroot: importing pool rpool' on the serial console of boot 2"
			ok=0
		}
	fi
	result $scen "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) "2 boots (pool made in boot 1), blankroot --import, zfs-dracut's import masked, ZFS $ZFS_VERSION"
}

for s in "${SCENARIOS[@]}"; do
	case $s in
	unit-order) scenario_unit_order ;;
	btrfs-luks) scenario_btrfs_luks ;;
	static-binary)
		wants btrfs-luks || scenario_btrfs_luks
		scenario_static_binary
		;;
	btrfs-archive) scenario_btrfs_archive ;;
	btrfs-restore) scenario_btrfs_restore ;;
	missing-blank) scenario_missing_blank ;;
	cmdline-skip) scenario_cmdline_skip ;;
	btrfs-raid1) scenario_btrfs_raid1 ;;
	btrfs-degraded) scenario_btrfs_degraded ;;
	skip-next-boot) scenario_skip_next_boot ;;
	zfs | zfs-luks) scenario_zfs "$s" ;;
	zfs-archive) scenario_zfs_archive ;;
	zfs-import) scenario_zfs_import ;;
	zfs-encrypted) scenario_zfs_encrypted ;;
	zfs-encrypted-archive) scenario_zfs_encrypted_archive ;;
	btrfs-home) scenario_btrfs_home ;;
	btrfs-home-stage2) scenario_btrfs_home_stage2 ;;
	zfs-home) scenario_zfs_home ;;
	migrate) scenario_migrate ;;
	esac
done

{
	echo
	echo "boot tests ($(($(date +%s) - SUITE_T0)) s in all; kernel $KVER; logs of failed boots in $LOGS)"
	printf '  %s\n' "${SUMMARY[@]}"
	echo "boot timings (s, then the rollback unit's journal timestamps in µs since boot):"
	printf '  %s\n' "${TIMINGS[@]}"
	echo "boot-tests: $PASSED passed, $FAILED failed"
} >&2
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
