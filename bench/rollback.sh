#!/usr/bin/env bash
# Benchmark: blankroot rollback against the scripts of two blog posts and the floor, on identical images.
#
#   sudo bench/rollback.sh [FILES] [RUNS]        (defaults: 150000 files, 5 runs per method)
#
# One template image is built (a root with FILES files spread over the root and 6 nested
# subvolumes, plus home/nix/persist/log and the read-only blank); every timed run gets a fresh
# copy of it on its own loop device, with the page cache dropped, like a boot. Methods:
#   floor      mount subvolid=5 + btrfs filesystem sync + umount (nothing can be faster)
#   fde2025    the service of "Full Disk Encryption and Impermanence on NixOS" (2025): list -o / delete nested / delete root / snapshot blank
#   itsdrike   the service of itsdrike's NixOS guide (its "Impermanence" chapter): recursive delete via list -o, then subvolume create
#   blankroot  blankroot rollback (release build)
#   baseline   another blankroot binary, side by side, when BASELINE_BIN names one (e.g. the
#              previous release's static build)
# Every method ends with the filesystem synced, so durability is equal. Prints medians and
# ratios to the floor. Work files go to $BENCH_DIR (default /var/tmp/blankroot-bench).
set -euo pipefail

files=${1:-150000}
runs=${2:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-/var/tmp/blankroot-bench}
mnt=$work/mnt
mkdir -p "$work" "$mnt"
loops=()
cleanup() {
  mountpoint -q "$mnt" && umount "$mnt"
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench/rollback.sh: needs root (loop devices, mount)" >&2; exit 2; }

echo "building the static release binary..."
bin=$("$here/scripts/build-static")

template=$work/template-$files.img
if [ ! -e "$template" ]; then
  echo "building the template image ($files files, 6 nested subvolumes)..."
  truncate -s 4G "$template.tmp"
  mkfs.btrfs -q -f "$template.tmp"
  l=$(losetup --find --show "$template.tmp"); loops+=("$l")
  mount -o subvolid=5 "$l" "$mnt"
  btrfs -q subvolume create "$mnt/root"
  btrfs -q subvolume snapshot -r "$mnt/root" "$mnt/root-blank"
  for s in home nix persist log; do btrfs -q subvolume create "$mnt/$s"; echo kept > "$mnt/$s/kept"; done
  mkdir -p "$mnt/root/var/lib" "$mnt/root/opt"
  nested=(var/lib/machines var/lib/portables srv var/tmp opt/cache opt/containers)
  for s in "${nested[@]}"; do btrfs -q subvolume create "$mnt/root/$s"; done
  python3 - "$mnt/root" "$files" "${nested[@]}" <<'EOF'
import os, sys
root, n, nested = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
bases = [root] + [os.path.join(root, s) for s in nested]
for i in range(n):
    d = os.path.join(bases[i % len(bases)], "d%03d" % (i // 1000 % 1000))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "w") as f:
        f.write("x" * (i % 200))
EOF
  umount "$mnt"; losetup -d "$l"; loops=()
  mv "$template.tmp" "$template"
fi

fresh() { # copies the template, prints the loop device
  cp --sparse=always "$template" "$work/run.img"
  local l; l=$(losetup --find --show "$work/run.img")
  loops+=("$l")
  sync; echo 3 > /proc/sys/vm/drop_caches
  echo "$l"
}
release() { losetup -d "$1"; loops=(); rm -f "$work/run.img"; }

floor() {
  mount -o subvolid=5 "$1" "$mnt"; btrfs filesystem sync "$mnt" >/dev/null; umount "$mnt"
}
fde2025() {
  mount -o subvol=/ "$1" "$mnt"
  btrfs subvolume list -o "$mnt/root" | cut -f9 -d' ' | while read -r s; do
    btrfs subvolume delete "$mnt/$s" >/dev/null
  done
  btrfs subvolume delete "$mnt/root" >/dev/null
  btrfs subvolume snapshot "$mnt/root-blank" "$mnt/root" >/dev/null
  btrfs filesystem sync "$mnt" >/dev/null
  umount "$mnt"
}
delete_recursively() {
  local x
  while IFS= read -r x; do [ -n "$x" ] && delete_recursively "$mnt/$x"; done \
    < <(btrfs subvolume list -o "$1" | cut -f 9- -d ' ')
  btrfs subvolume delete "$1" >/dev/null
}
itsdrike() {
  mount -o subvol=/ "$1" "$mnt"
  delete_recursively "$mnt/root"
  btrfs subvolume create "$mnt/root" >/dev/null
  btrfs filesystem sync "$mnt" >/dev/null
  umount "$mnt"
}
blankroot() {
  "$bin" rollback --device "$1" --allow-outside-initrd --status-file "$work/status.json" --log-level warn 2>/dev/null
}

baseline() {
  "$BASELINE_BIN" rollback --device "$1" --allow-outside-initrd --status-file "$work/status.json" --log-level warn 2>/dev/null
}
methods=(floor fde2025 itsdrike blankroot)
[ -z "${BASELINE_BIN:-}" ] || methods+=(baseline)

div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }

declare -A median
for method in "${methods[@]}"; do
  times=()
  for _ in $(seq "$runs"); do
    l=$(fresh)
    t0=$(date +%s%N)
    "$method" "$l"
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
    # Each rollback must have left a fresh, empty root behind (the floor changes nothing).
    if [ "$method" != floor ]; then
      mount -o subvolid=5 "$l" "$mnt"
      [ -z "$(ls "$mnt/root")" ] || { echo "$method left files in root" >&2; exit 1; }
      umount "$mnt"
    fi
    release "$l"
  done
  sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
  median[$method]=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-10s median %8.1f ms   runs (us): %s\n' "$method" "$(div "${median[$method]}" 1000)" "$sorted"
done

echo
echo "root with $files files and 6 nested subvolumes, $runs runs each, cold cache:"
printf '%-10s %10s %14s\n' method "median ms" "x floor"
for method in "${methods[@]}"; do
  printf '%-10s %10.1f %14.2f\n' "$method" "$(div "${median[$method]}" 1000)" \
    "$(div "${median[$method]}" "${median[floor]}")"
done
echo 'fde2025: the script of "Full Disk Encryption and Impermanence on NixOS" (2025); itsdrike: the script of itsdrike'"'"'s NixOS guide ("Impermanence")'
printf 'blankroot is %.1fx faster than fde2025 and %.1fx faster than itsdrike\n' \
  "$(div "${median[fde2025]}" "${median[blankroot]}")" \
  "$(div "${median[itsdrike]}" "${median[blankroot]}")"
size=$(stat -c %s "$bin")
printf 'release binary: %d bytes (%.2f MB); ldd: %s\n' "$size" "$(div "$size" 1000000)" "$(ldd "$bin" 2>&1 | head -1 | xargs)"
