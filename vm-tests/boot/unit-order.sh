#!/bin/bash
# The dracut module's blankroot.service must be ordered like the unit the NixOS module generates.
#
#   vm-tests/boot/unit-order.sh      (no root, no VM; part of run.sh as the scenario unit-order)
#
# 1. With vm-tests/golden/btrfs-luks.unit (made by the NixOS module's tests for "Full Disk Encryption and Impermanence on NixOS" (2025)), renders
#    the dracut unit for the same system (unit-order/btrfs-luks.conf) and compares every ordering
#    and dependency directive, plus the rollback arguments. Without the golden file, compares with
#    the shape written down in dracut/90blankroot/blankroot-unit.sh.
# 2. The failure policies and ZFS: the directives each must produce.
# 3. Broken configurations are refused (exit 2) instead of giving an initramfs without a rollback.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
render=$repo/dracut/90blankroot/blankroot-unit.sh
golden=${BLANKROOT_GOLDEN_UNIT:-$repo/vm-tests/golden/btrfs-luks.unit}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pass=0 fail=0
ok() {
	pass=$((pass + 1))
	echo "ok   $*"
}
bad() {
	fail=$((fail + 1))
	echo "FAIL $*"
}

# The directives that decide when and whether the unit runs, one "Key=value" per line, sorted;
# booleans normalised (NixOS writes true/false, dracut users write yes/no).
directives() {
	awk '
		/^[[:space:]]*[#;]/ { next }
		/^[A-Za-z]+=/ {
			k = substr($0, 1, index($0, "=") - 1); v = substr($0, index($0, "=") + 1)
			if (k !~ /^(DefaultDependencies|Requires|Requisite|BindsTo|Wants|After|Before|Conflicts|PartOf|Type|RemainAfterExit|TimeoutStartSec|WantedBy|RequiredBy)$/) next
			n = split(v, w, /[[:space:]]+/)
			for (i = 1; i <= n; i++) {
				if (w[i] == "") continue
				x = w[i]
				if (x ~ /^(true|yes|on|1)$/) x = "yes"
				if (x ~ /^(false|no|off|0)$/) x = "no"
				print k "=" x
			}
		}' "$1" | sort -u
}

# The words after `blankroot rollback` in ExecStart, unquoted, one a line.
rollback_args() {
	sed -n 's/^ExecStart=[^ ]*blankroot rollback //p' "$1" | tr -d '"' | tr ' ' '\n' | grep .
}

compare() { # compare NAME WANT_FILE GOT_FILE
	if diff -u "$2" "$3" >"$tmp/diff"; then
		ok "$1"
	else
		bad "$1 (- expected, + dracut unit):"
		sed -n '3,$p' "$tmp/diff" | grep '^[-+]' | sed 's/^/       /'
	fi
}

# --- 1. the same system as the golden unit ------------------------------------------------------
bash "$render" "$here/unit-order/btrfs-luks.conf" >"$tmp/dracut.unit"
directives "$tmp/dracut.unit" >"$tmp/got"
if [[ -f $golden ]]; then
	directives "$golden" >"$tmp/want"
	compare "ordering of the dracut unit = $(basename "$golden") (NixOS module, the FDE 2025 layout)" "$tmp/want" "$tmp/got"
	rollback_args "$golden" >"$tmp/want-args"
	rollback_args "$tmp/dracut.unit" >"$tmp/got-args"
	compare "rollback arguments of the dracut unit = $(basename "$golden")" "$tmp/want-args" "$tmp/got-args"
	source="golden file"
else
	cat >"$tmp/want" <<'EOF'
After=dev-disk-by\x2duuid-b79d3c8b\x2dd511\x2d4d66\x2da5e0\x2d641a75440ada.device
After=local-fs-pre.target
After=systemd-cryptsetup@enc.service
After=systemd-hibernate-resume.service
After=systemd-modules-load.service
Before=shutdown.target
Before=sysroot-nix.mount
Before=sysroot-persist.mount
Before=sysroot-var-log.mount
Before=sysroot.mount
Conflicts=shutdown.target
DefaultDependencies=no
RemainAfterExit=yes
Requires=dev-disk-by\x2duuid-b79d3c8b\x2dd511\x2d4d66\x2da5e0\x2d641a75440ada.device
TimeoutStartSec=10min
Type=oneshot
WantedBy=initrd.target
WantedBy=sysroot.mount
EOF
	compare "ordering of the dracut unit = the documented shape (no golden file at $golden)" "$tmp/want" "$tmp/got"
	source="documented shape"
fi

# --- 2. failure policies and ZFS ----------------------------------------------------------------
has() { # has UNIT DIRECTIVE...: each Key=value is present
	local u=$1 d
	shift
	for d in "$@"; do
		grep -qxF "$d" <(directives "$u") || return 1
	done
}
hasnt() {
	local u=$1 d
	shift
	for d in "$@"; do
		grep -qxF "$d" <(directives "$u") && return 1
	done
	return 0
}

sed 's/^BLANKROOT_ON_FAILURE=.*/BLANKROOT_ON_FAILURE=stop/' "$here/unit-order/btrfs-luks.conf" >"$tmp/stop.conf"
bash "$render" "$tmp/stop.conf" >"$tmp/stop.unit"
if has "$tmp/stop.unit" RequiredBy=sysroot.mount RequiredBy=initrd.target &&
	hasnt "$tmp/stop.unit" WantedBy=sysroot.mount WantedBy=initrd.target; then
	ok "stop policy: RequiredBy=sysroot.mount initrd.target"
else
	bad "stop policy: want RequiredBy=sysroot.mount initrd.target and no WantedBy"
fi

cat >"$tmp/luks-mapper.conf" <<'EOF'
BLANKROOT_ARGS="--device /dev/mapper/cryptroot --blank root-blank"
EOF
bash "$render" "$tmp/luks-mapper.conf" >"$tmp/mapper.unit"
if has "$tmp/mapper.unit" Requires=dev-mapper-cryptroot.device After=dev-mapper-cryptroot.device \
	After=systemd-cryptsetup@cryptroot.service Before=sysroot.mount WantedBy=initrd.target; then
	ok "/dev/mapper/NAME: requires its device unit, after systemd-cryptsetup@NAME.service"
else
	bad "/dev/mapper/NAME: $(directives "$tmp/mapper.unit" | tr '\n' ' ')"
fi

cat >"$tmp/zfs.conf" <<'EOF'
BLANKROOT_ARGS="--dataset rpool/local/root --snapshot blank"
BLANKROOT_CRYPTTAB_NAMES="cryptpool"
EOF
bash "$render" "$tmp/zfs.conf" >"$tmp/zfs.unit"
if has "$tmp/zfs.unit" Requires=zfs-import.target After=zfs-import.target After=zfs-import-scan.service \
	After=zfs-import-cache.service After=systemd-cryptsetup@cryptpool.service Before=sysroot.mount &&
	! grep -q '\.device' "$tmp/zfs.unit"; then
	ok "ZFS: requires and follows zfs-dracut's pool import, no device unit"
else
	bad "ZFS: $(directives "$tmp/zfs.unit" | tr '\n' ' ')"
fi
if has "$tmp/zfs.unit" After=dracut-pre-mount.service && hasnt "$tmp/zfs.unit" Before=dracut-pre-mount.service; then
	ok "ZFS: after zfs-dracut's key loading (dracut-pre-mount.service): archive mode creates its parent with the key loaded"
else
	bad "ZFS: want After=dracut-pre-mount.service: $(directives "$tmp/zfs.unit" | tr '\n' ' ')"
fi
cat >"$tmp/zfs-import.conf" <<'EOF2'
BLANKROOT_ARGS="--dataset rpool/local/root --snapshot blank --import"
EOF2
bash "$render" "$tmp/zfs-import.conf" >"$tmp/zfs-import.unit"
if has "$tmp/zfs-import.unit" Before=dracut-pre-mount.service Wants=systemd-udev-settle.service \
	After=systemd-udev-settle.service After=zfs-load-module.service &&
	hasnt "$tmp/zfs-import.unit" After=dracut-pre-mount.service; then
	ok "ZFS --import: waits for udev and the module; before zfs-dracut's key loading (it needs the pool imported)"
else
	bad "ZFS --import: $(directives "$tmp/zfs-import.unit" | tr '\n' ' ')"
fi

# --- 2b. more targets than / (initrd.d/*.conf) ------------------------------------------------
cat >"$tmp/home.conf" <<'EOF2'
BLANKROOT_MOUNT_POINT=/home
BLANKROOT_ARGS="--device /dev/mapper/cryptroot --subvolume home --blank home-blank"
EOF2
bash "$render" "$tmp/home.conf" >"$tmp/home.unit"
if [[ $(bash "$render" --name "$tmp/home.conf") == blankroot-home.service ]] &&
	has "$tmp/home.unit" After=blankroot.service After=systemd-cryptsetup@cryptroot.service \
		Requires=dev-mapper-cryptroot.device Before=sysroot.mount Before=sysroot-home.mount WantedBy=initrd.target &&
	grep -qxF 'ConditionPathExists=!/run/blankroot/status.home.json' "$tmp/home.unit" &&
	grep -qxF 'ConditionPathExists=/etc/initrd-release' "$tmp/home.unit" &&
	[[ $(rollback_args "$tmp/home.unit" | head -n2 | tr '\n' ' ') == "--mount-point /home " ]]; then
	ok "/home in the initrd: blankroot-home.service after blankroot.service, before sysroot.mount and sysroot-home.mount, its own record"
else
	bad "/home in the initrd: $(directives "$tmp/home.unit" | tr '\n' ' ')"
fi
cat >"$tmp/home-booted.conf" <<'EOF2'
BLANKROOT_MOUNT_POINT=/home
BLANKROOT_STAGE=booted
BLANKROOT_ON_FAILURE=stop
BLANKROOT_ARGS="--device /dev/mapper/crypthome --subvolume home --blank home-blank"
EOF2
bash "$render" --booted "$tmp/home-booted.conf" >"$tmp/home-booted.unit"
if has "$tmp/home-booted.unit" After=systemd-cryptsetup@crypthome.service After=dev-mapper-crypthome.device \
	Requires=dev-mapper-crypthome.device Before=home.mount Before=local-fs.target RequiredBy=home.mount &&
	hasnt "$tmp/home-booted.unit" Before=sysroot.mount After=blankroot.service WantedBy=initrd.target &&
	! grep -q 'initrd-release' "$tmp/home-booted.unit" &&
	grep -q '^ExecStart=/usr/bin/blankroot rollback --before-mount --mount-point /home ' "$tmp/home-booted.unit"; then
	ok "/home in the booted system: rollback --before-mount after crypthome, before home.mount, which requires it (stop)"
else
	bad "/home in the booted system: $(directives "$tmp/home-booted.unit" | tr '\n' ' ')"
fi
if bash "$render" "$tmp/home-booted.conf" >/dev/null 2>&1; then
	bad "a BLANKROOT_STAGE=booted target rendered as an initrd unit"
else ok "refused: a booted-stage target as an initrd unit"; fi

# --- 3. broken configurations -------------------------------------------------------------------
refused() { # refused NAME CONFIG-TEXT
	printf '%s\n' "$2" >"$tmp/broken.conf"
	local rc=0
	bash "$render" "$tmp/broken.conf" >/dev/null 2>"$tmp/err" || rc=$?
	if ((rc == 2)); then ok "refused: $1 ($(head -n1 "$tmp/err" | sed 's/^blankroot-unit: [^:]*: //'))"; else bad "not refused (exit $rc): $1"; fi
}
refused "no arguments" 'BLANKROOT_ARGS='
refused "unknown failure policy" 'BLANKROOT_ARGS="--device /dev/vda2 --empty"
BLANKROOT_ON_FAILURE=ignore'
refused "neither --device nor --dataset" 'BLANKROOT_ARGS="--blank root-blank"'
refused "device not under /dev" 'BLANKROOT_ARGS="--device UUID=1234 --blank root-blank"'
refused "quotes in the arguments" 'BLANKROOT_ARGS="--device /dev/vda2 --protect \"my home\""'
refused "--mount-point in the arguments" 'BLANKROOT_MOUNT_POINT=/home
BLANKROOT_ARGS="--mount-point /home --device /dev/vda2 --empty"'
refused "relative mount point" 'BLANKROOT_MOUNT_POINT=home
BLANKROOT_ARGS="--device /dev/vda2 --empty"'
refused "the root in the booted stage" 'BLANKROOT_STAGE=booted
BLANKROOT_ARGS="--device /dev/vda2 --empty"'
if bash "$render" "$tmp/missing.conf" >/dev/null 2>&1; then bad "a missing config is not refused"; else ok "refused: missing config file"; fi

echo "unit-order ($source): $pass passed, $fail failed"
((fail == 0))
