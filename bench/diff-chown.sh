#!/usr/bin/env bash
# Benchmark: `blankroot diff` after a `chown -R` / `chmod -R` of large files the blank holds:
# every file's owner or mode changed, no byte did. The bulk reader tells that from the files'
# extent items (the same extents: the same bytes); the walker (BLANKROOT_DIFF_WALK=1) reads
# both copies of every file to know. Side by side in one run, cold page cache, then warm.
#
#   sudo bench/diff-chown.sh [FILES] [MIB]     (default: 200 files of 4 MiB)
#
# Work files go to $BENCH_DIR (default /var/tmp/blankroot-bench-chown). Needs btrfs-progs, python3.
set -euo pipefail
export LC_ALL=C

files=${1:-200}
mib=${2:-4}
here=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-/var/tmp/blankroot-bench-chown}
mnt=$work/mnt
mkdir -p "$work" "$mnt"
loop=
cleanup() {
  mountpoint -q "$mnt" && umount "$mnt"
  [ -n "$loop" ] && losetup -d "$loop" 2>/dev/null || true
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench/diff-chown.sh: needs root (loop devices, mount)" >&2; exit 2; }
command -v btrfs >/dev/null || { echo "bench/diff-chown.sh: needs btrfs-progs (scripts/deps installs it)" >&2; exit 2; }

echo "building the static release binary..."
bin=$("$here/scripts/build-static")

img=$work/chown-$files-$mib.img
if [ ! -e "$img" ]; then
  echo "building the image ($files files of $mib MiB, owner and mode changed in the live root)..."
  truncate -s $(( files * mib * 2 + 1024 ))M "$img.tmp"
  mkfs.btrfs -q -f "$img.tmp"
  l=$(losetup --find --show "$img.tmp")
  mount -o subvolid=5 "$l" "$mnt"
  btrfs -q subvolume create "$mnt/root"
  mkdir -p "$mnt/root/var/lib/data"
  for i in $(seq "$files"); do
    head -c $(( mib << 20 )) /dev/urandom > "$mnt/root/var/lib/data/f$i"
  done
  btrfs -q subvolume snapshot -r "$mnt/root" "$mnt/root-blank"
  chown -R 1000:100 "$mnt/root/var/lib/data"
  chmod -R go-rwx "$mnt/root/var/lib/data"
  umount "$mnt"; losetup -d "$l"
  mv "$img.tmp" "$img"
fi

loop=$(losetup --find --show "$img")
run() { # $1: method; prints the diff's JSON
  case $1 in
    bulk) BLANKROOT_DIFF_WALK='' "$bin" diff --device "$loop" --json --include-nix-managed ;;
    walker) BLANKROOT_DIFF_WALK=1 "$bin" diff --device "$loop" --json --include-nix-managed ;;
  esac
}
declare -A cold warm listed
for method in bulk walker; do
  sync; echo 3 > /proc/sys/vm/drop_caches
  t0=$(date +%s%N); run "$method" > "$work/$method.json"; t1=$(date +%s%N)
  run "$method" > /dev/null; t2=$(date +%s%N)
  cold[$method]=$(( (t1 - t0) / 1000000 ))
  warm[$method]=$(( (t2 - t1) / 1000000 ))
  listed[$method]=$(grep -c '"what":\["mode","owner"\]' "$work/$method.json" || true)
done

echo
echo "$files files of $mib MiB in the blank, owner and mode changed in the live root, no byte"
printf '%-8s %10s %10s %22s\n' method "cold ms" "warm ms" "listed [mode, owner]"
for method in bulk walker; do
  printf '%-8s %10d %10d %22d\n' "$method" "${cold[$method]}" "${warm[$method]}" "${listed[$method]}"
done
same=$(python3 -c 'import json, sys
a, b = [json.load(open(f))["changes"] for f in sys.argv[1:]]
print("the same changes" if a == b else "DIFFERENT changes")' "$work/bulk.json" "$work/walker.json")
echo "bulk reads and the walker list $same"
awk -v b="${cold[bulk]}" -v w="${cold[walker]}" 'BEGIN { printf "bulk reads vs the walker, cold: %.1fx faster\n", w / b }'
