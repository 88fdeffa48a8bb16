#!/usr/bin/env bash
# Benchmark: `blankroot persist` against `cp -a` and `rsync -aHAX`, copying one tree of FILES
# files into a store on the same Btrfs (reflinks possible) and onto another filesystem (ext4),
# in one run, each with a cold page cache.
#
#   sudo bench/persist.sh [FILES]        (default: 150000 files)
#
# The tree (on a loop btrfs): FILES files of 0-1999 bytes in directories of 1,000, plus 1,000
# symlinks and 1,000 hard links. Each method copies it into its own empty store directory:
#   persist   blankroot persist --to STORE PATH (release build): owner, mode, times, xattrs,
#             ACLs, hard links; reflinks on the same filesystem, holes kept elsewhere
#   cp        cp -a PATH STORE/ (coreutils; reflinks on the same filesystem since 9.0)
#   rsync     rsync -aHAX PATH/ STORE/bench/ (hard links, ACLs, xattrs)
# Before each: the previous copies removed, `sync`, the page cache dropped
# (/proc/sys/vm/drop_caches). A time is the command's, then `sync -f` of the store (persist
# syncs its store itself; the others leave the writeback to later). Each copy is counted after
# (entries, with find) to check it is whole. Work files go to $BENCH_DIR (default
# /var/tmp/blankroot-bench-persist). Needs btrfs-progs, e2fsprogs, rsync, python3.
set -euo pipefail
export LC_ALL=C

files=${1:-150000}
here=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-/var/tmp/blankroot-bench-persist}
a=$work/a
b=$work/b
mkdir -p "$work" "$a" "$b"
loops=()
# The images are made for each run and removed after it (4 GiB each, sparse).
cleanup() {
  for m in "$b" "$a"; do mountpoint -q "$m" && umount "$m"; done
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -f "$work/a.img" "$work/b.img"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench/persist.sh: needs root (loop devices, mount)" >&2; exit 2; }
for tool in mkfs.btrfs mkfs.ext4 rsync python3; do
  command -v "$tool" >/dev/null || { echo "bench/persist.sh: needs $tool" >&2; exit 2; }
done

echo "building the static release binary..."
bin=$("$here/scripts/build-static")

truncate -s 4G "$work/a.img"
mkfs.btrfs -q -f "$work/a.img"
truncate -s 4G "$work/b.img"
mkfs.ext4 -q -F "$work/b.img"
l=$(losetup --find --show "$work/a.img"); loops+=("$l"); mount "$l" "$a"
l=$(losetup --find --show "$work/b.img"); loops+=("$l"); mount "$l" "$b"

src=$a/live/var/lib/bench
echo "building the tree ($files files)..."
python3 - "$src" "$files" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "w") as f:
        f.write("x" * (i % 2000))
os.makedirs(os.path.join(root, "links"))
for i in range(1000):
    os.symlink("../d000/f%06d" % i, os.path.join(root, "links/s%04d" % i))
    os.link(os.path.join(root, "d000/f%06d" % i), os.path.join(root, "links/h%04d" % i))
EOF
entries=$(find "$src" | wc -l)
echo "tree: $entries entries, $(du -sh --apparent-size "$src" | cut -f1) apparent"

# run NAME STORE: one cold, timed copy into STORE (made empty first); prints seconds.
run() {
  local name=$1 store=$2 t0 t1 copy
  rm -rf "$store"; mkdir -p "$store"
  sync; echo 3 > /proc/sys/vm/drop_caches
  t0=$(date +%s.%N)
  case $name in
    persist) "$bin" persist --to "$store" "$src" > /dev/null; copy=$store$src ;;
    cp) cp -a "$src" "$store/"; copy=$store/bench ;;
    rsync) rsync -aHAX "$src/" "$store/bench/"; copy=$store/bench ;;
  esac
  sync -f "$store"
  t1=$(date +%s.%N)
  local n; n=$(find "$copy" | wc -l)
  [ "$n" = "$entries" ] || { echo "$name into $store: $n entries, not $entries" >&2; exit 1; }
  echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}'
}

declare -A secs
for name in persist cp rsync; do
  # Each copy is removed before the next one runs: every method starts from the same free space.
  secs[$name,same]=$(run "$name" "$a/store-$name")
  rm -rf "$a/store-$name"
  secs[$name,other]=$(run "$name" "$b/store-$name")
  rm -rf "$b/store-$name"
  echo "  $name: ${secs[$name,same]} s on the same btrfs, ${secs[$name,other]} s onto ext4"
done

echo
echo "$files files ($entries entries), cold cache, seconds (lower is better):"
printf "%-28s %14s %12s\n" method "same btrfs" "onto ext4"
printf "%-28s %14s %12s\n" "blankroot persist" "${secs[persist,same]}" "${secs[persist,other]}"
printf "%-28s %14s %12s\n" "cp -a" "${secs[cp,same]}" "${secs[cp,other]}"
printf "%-28s %14s %12s\n" "rsync -aHAX" "${secs[rsync,same]}" "${secs[rsync,other]}"
