#!/bin/bash
# Real boot tests for blankroot: the static binary in a systemd initramfs built by dracut (with
# the blankroot dracut module), booted under qemu (TCG) on LUKS2 + Btrfs and on OpenZFS.
#
#   vm-tests/boot/run.sh [SCENARIO...]      (as root; default: all scenarios)
#
# Scenarios: unit-order btrfs-luks btrfs-archive missing-blank cmdline-skip static-binary zfs zfs-luks
# Environment: BLANKROOT_BOOT_CACHE (default /var/cache/blankroot-boot), BLANKROOT_BOOT_LOGS,
# BLANKROOT_BOOT_WORK, BLANKROOT_BOOT_KEEP=1, BLANKROOT_BOOT_TIMEOUT (s per boot, default 180),
# BLANKROOT_BOOT_DEADLINE (s; no boot starts later, default 2400),
# BLANKROOT_BOOT_BINARY (test this binary instead of building one), BLANKROOT_BOOT_KERNEL,
# BLANKROOT_BOOT_SKIP_ZFS=1. See README.md, Boot tests.
set -euo pipefail

# shellcheck source=vm-tests/boot/lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=vm-tests/boot/lib/guest.sh
. "$BOOT_DIR/lib/guest.sh"
# shellcheck source=vm-tests/boot/lib/qemu.sh
. "$BOOT_DIR/lib/qemu.sh"
# shellcheck source=vm-tests/boot/lib/zfs.sh
. "$BOOT_DIR/lib/zfs.sh"

ALL_SCENARIOS="unit-order btrfs-luks static-binary btrfs-archive missing-blank cmdline-skip zfs zfs-luks"

usage() {
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
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
# line came, from STAGE, and says PASS. Sets BOOT_OK (1/0) and BOOT_FACTS.
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
	if ((BOOT_OK && runs != 1)); then
		log "  $name: the rollback unit was started $runs times in this boot (want exactly once)"
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
# btrfs_initrd NAME luks|plain CONF: a lean initramfs for the Btrfs scenarios.
btrfs_initrd() {
	local name=$1 kind=$2 conf=$3 ov=$WORK/overlay/$1
	rm -rf "$ov"
	overlay_base "$ov"
	if [[ $kind == luks ]]; then
		mkdir -p "$ov/etc"
		install -m 0400 "$KEY" "$ov/etc/cryptroot.key"
		echo "cryptroot $DEV_PLAIN /etc/cryptroot.key luks" >"$ov/etc/crypttab"
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

# 6. OpenZFS root (zfs-dracut), plain and on LUKS; the pool is made in the first boot.
scenario_zfs() { # scenario_zfs zfs|zfs-luks
	local scen=$1 t0=$SECONDS ok=1 luks=no n img usr cmd initrd expect
	[[ $scen == zfs-luks ]] && luks=yes
	zfs_kernel_ensure "$KVER"
	img=$WORK/$scen.img
	usr=$WORK/$scen-usr.img
	zfs_disks "$img" "$usr" "$luks"
	initrd=$WORK/initrd-$scen.img
	zfs_initrd "$initrd" "$luks"
	cmd=$(zfs_cmdline "$luks")
	expect="canary:gone,status:rolled-back,rollback_unit:active/success,order_import:ok,$OK_COMMON"
	[[ $luks == yes ]] && expect="$expect,order_crypt:ok,order_crypt_import:ok"
	for n in 1 2; do
		local prov=""
		((n == 1)) && prov="brt.provision=1"
		run_boot "$scen" $n "$initrd" "$cmd $prov" stage2 "persist:$((n - 1)),$expect" "$img" "$usr"
		((BOOT_OK)) || ok=0
	done
	result "$scen" "$( ((ok)) && echo PASS || echo FAIL)" $((SECONDS - t0)) "2 boots (pool made in boot 1), ZFS $ZFS_VERSION$([[ $luks == yes ]] && echo ', pool on LUKS2')"
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
	missing-blank) scenario_missing_blank ;;
	cmdline-skip) scenario_cmdline_skip ;;
	zfs | zfs-luks) scenario_zfs "$s" ;;
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
