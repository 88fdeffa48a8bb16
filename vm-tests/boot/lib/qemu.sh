# shellcheck shell=bash
# shellcheck disable=SC2034 # variables used by the scripts that source this file
# Booting a guest under qemu (TCG: nested KVM hangs on our machines) and reading its verdict.

QEMU=${BLANKROOT_BOOT_QEMU:-qemu-system-x86_64}
# Kernel command line parts every boot shares. The rolled-back root is empty: `rw` lets systemd
# create its mount points; stage 2 comes from the usr subvolume (init=/usr/init).
CMDLINE_BASE="console=ttyS0,115200 panic=-1 rw init=/usr/init rd.shell=0 rd.emergency=poweroff systemd.show_status=1"

BOOT_SECONDS=0
# boot_vm NAME INITRD CMDLINE DISK...: boots until the guest powers off (or BOOT_TIMEOUT);
# serial log in $WORK/serial/NAME.log. Returns qemu's status (124: timed out).
boot_vm() {
	local name=$1 initrd=$2 cmdline=$3 d t0 rc=0
	shift 3
	local drives=()
	for d in "$@"; do drives+=(-drive "file=$d,format=raw,if=virtio"); done
	mkdir -p "$WORK/serial"
	local serial=$WORK/serial/$name.log
	rm -f "$serial"
	t0=$(date +%s%N)
	timeout --kill-after=10 "$BOOT_TIMEOUT" "$QEMU" -accel tcg -cpu max -smp 2 -m 1024 \
		-nodefaults -display none -no-reboot -monitor none -serial "file:$serial" \
		-kernel "$VMLINUZ" -initrd "$initrd" -append "$cmdline" "${drives[@]}" \
		</dev/null >"$WORK/serial/$name.qemu.log" 2>&1 || rc=$?
	BOOT_SECONDS=$((($(date +%s%N) - t0) / 1000000))
	BOOT_SECONDS=$((BOOT_SECONDS / 1000)).$(printf '%03d' $((BOOT_SECONDS % 1000)) | cut -c1)
	return "$rc"
}

# The verdict lines a boot printed (normally exactly one).
verdicts() { grep -ao 'BRT-VERDICT .*' "$WORK/serial/$1.log" 2>/dev/null | tr -d '\r' || true; }
units_line() { grep -ao 'BRT-UNITS .*' "$WORK/serial/$1.log" 2>/dev/null | tr -d '\r' | tail -n1 || true; }

# A number from a BRT-UNITS line.
units_field() { # units_field LINE KEY
	sed -n "s/.* $2=\\([0-9]*\\).*/\\1/p" <<<"$1"
}

keep_log() { # keep_log NAME: copy the serial log to LOGS
	mkdir -p "$LOGS"
	cp "$WORK/serial/$1.log" "$LOGS/$1.serial.log" 2>/dev/null || true
	cp "$WORK/serial/$1.qemu.log" "$LOGS/$1.qemu.log" 2>/dev/null || true
}
