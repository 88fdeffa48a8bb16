#!/usr/bin/env bash
# Benchmark: `blankroot diff` against the other ways of asking "what will the next boot erase?",
# side by side on one image, with the recall of each against a brute-force comparison.
#
#   sudo bench/diff.sh [FILES] [RUNS]   (default: 150000 files, 3 runs)
#
# The image: a blank (read-only snapshot) holding 5,000 files, and a live root made from it
# that then gets FILES new files spread over the root and 6 nested subvolumes, plus 500 files
# rewritten, 200 chmod-ed, 100 chown-ed, 300 deleted, 50 symlinks retargeted and 100 new empty
# files. The truth is a brute-force walk of both trees (type, mode, owner, bytes, link target).
# Methods (each timed with a cold page cache, then warm):
#   blankroot   blankroot diff --json --include-nix-managed (release build): the subvolumes'
#               trees read in bulk (BTRFS_IOC_TREE_SEARCH_V2)
#   walker      the same with BLANKROOT_DIFF_WALK=1: readdir and one statx per path (the fallback)
#   send        btrfs send --no-data -p root-blank <read-only snapshot of root> | btrfs receive --dump
#               (the snapshot is taken before timing; send cannot see nested subvolumes)
#   sendall     send, plus a full send --no-data of a read-only snapshot of each nested subvolume
#               (what it takes for send to see everything; snapshots taken before timing)
#   fs-diff     btrfs subvolume find-new against the blank's generation (the fs-diff.sh approach,
#               rewritten from its description: files with new extents only)
#   rsync       rsync -amvxx --dry-run --no-links root/ root-blank/ (the command of "Impermanent NixOS: on a VM + tmpfs root + flakes + LUKS" (2024))
# Times are the tool's alone (its output to a file), the median of RUNS rounds (each round runs
# every method once cold, then once warm: a cold run on this shared machine varies by a third);
# turning each output into a list of paths comes after. Recall: listed true paths / all true paths. Work files go to $BENCH_DIR
# (default /var/tmp/blankroot-bench-diff). Needs btrfs-progs, rsync, python3.
set -euo pipefail
export LC_ALL=C

files=${1:-150000}
runs=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-/var/tmp/blankroot-bench-diff}
mnt=$work/mnt
mkdir -p "$work" "$mnt"
loop=
cleanup() {
  mountpoint -q "$mnt" && umount "$mnt"
  [ -n "$loop" ] && losetup -d "$loop" 2>/dev/null || true
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench/diff.sh: needs root (loop devices, mount)" >&2; exit 2; }
for tool in btrfs rsync python3; do
  command -v "$tool" >/dev/null || { echo "bench/diff.sh: needs $tool (scripts/deps bench installs it)" >&2; exit 2; }
done

echo "building the static release binary..."
bin=$("$here/scripts/build-static")

template=$work/diff-template-$files.img
if [ ! -e "$template" ]; then
  echo "building the image ($files new files, 6 nested subvolumes)..."
  truncate -s 6G "$template.tmp"
  mkfs.btrfs -q -f "$template.tmp"
  l=$(losetup --find --show "$template.tmp")
  mount -o subvolid=5 "$l" "$mnt"
  btrfs -q subvolume create "$mnt/root"
  python3 - "$mnt/root" <<'EOF'
import os, sys
root = sys.argv[1]
for i in range(5000):
    d = os.path.join(root, "usr/share/base%02d" % (i % 50))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "b%05d" % i), "w") as f:
        f.write("base %d\n" % i * (1 + i % 7))
os.makedirs(os.path.join(root, "etc/links"))
for i in range(50):
    os.symlink("/old/%d" % i, os.path.join(root, "etc/links/l%02d" % i))
os.makedirs(os.path.join(root, "var/lib"))
os.makedirs(os.path.join(root, "opt"))
EOF
  btrfs -q subvolume snapshot -r "$mnt/root" "$mnt/root-blank"
  nested=(var/lib/machines var/lib/portables srv var/tmp opt/cache opt/containers)
  for s in "${nested[@]}"; do btrfs -q subvolume create "$mnt/root/$s"; done
  python3 - "$mnt/root" "$files" "${nested[@]}" <<'EOF'
import os, sys
root, n, nested = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
bases = [os.path.join(root, "home/u")] + [os.path.join(root, s) for s in nested]
for i in range(n):
    d = os.path.join(bases[i % len(bases)], "d%03d" % (i // 1000 % 1000))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "w") as f:
        f.write("x" * (i % 200))
base = lambda i: os.path.join(root, "usr/share/base%02d/b%05d" % (i % 50, i))
for i in range(0, 500):
    with open(base(i), "a") as f:
        f.write("changed\n")
for i in range(500, 700):
    os.chmod(base(i), 0o600)
for i in range(700, 800):
    os.chown(base(i), 1000, 100)
for i in range(800, 1100):
    os.unlink(base(i))
for i in range(50):
    p = os.path.join(root, "etc/links/l%02d" % i)
    os.unlink(p)
    os.symlink("/new/%d" % i, p)
os.makedirs(os.path.join(root, "var/empty-files"))
for i in range(100):
    open(os.path.join(root, "var/empty-files/e%03d" % i), "w").close()
EOF
  btrfs -q subvolume snapshot -r "$mnt/root" "$mnt/root-ro"
  umount "$mnt"; losetup -d "$l"
  mv "$template.tmp" "$template"
fi

nested=(var/lib/machines var/lib/portables srv var/tmp opt/cache opt/containers)
loop=$(losetup --find --show "$template")
mount -o subvolid=5 "$loop" "$mnt"
# Read-only snapshots of the nested subvolumes, for send-all (send cannot read a writable one).
for i in "${!nested[@]}"; do
  [ -e "$mnt/nested-ro-$i" ] || btrfs -q subvolume snapshot -r "$mnt/root/${nested[$i]}" "$mnt/nested-ro-$i"
done
mount -o remount,ro "$mnt"

truthfile=$work/truth-$files.txt
if [ ! -s "$truthfile" ] || [ "$truthfile" -ot "$template" ]; then
echo "brute-force truth..."
python3 - "$mnt/root" "$mnt/root-blank" > "$truthfile.tmp" <<'EOF'
import os, stat, sys
live, blank = sys.argv[1], sys.argv[2]
def scan(top):
    out = {}
    for d, dirs, fs in os.walk(top):
        for n in dirs + fs:
            p = os.path.join(d, n)
            out["/" + os.path.relpath(p, top)] = p
    return out
L, B = scan(live), scan(blank)
def desc(p):
    s = os.lstat(p)
    k = stat.S_IFMT(s.st_mode)
    extra = None
    if stat.S_ISLNK(s.st_mode):
        extra = os.readlink(p)
    elif stat.S_ISREG(s.st_mode):
        with open(p, "rb") as f:
            extra = f.read()
    return (k, stat.S_IMODE(s.st_mode), s.st_uid, s.st_gid, extra)
for p in sorted(set(L) | set(B)):
    if p not in L or p not in B or desc(L[p]) != desc(B[p]):
        print(p)
EOF
mv "$truthfile.tmp" "$truthfile"
fi
cp "$truthfile" "$work/truth.txt"
truth=$(wc -l < "$work/truth.txt")

# Each method: m_X writes the tool's own output to stdout (timed); p_X turns it into one path per
# line (not timed).
dump_paths() { # btrfs receive --dump lines -> paths, the subvolume's name replaced by $1
  python3 -c '
import sys
prefix = sys.argv[1]
for line in sys.stdin:
    parts = line.split()
    if len(parts) < 2: continue
    paths = [parts[1]] + [p[5:] for p in parts[2:] if p.startswith("dest=")]
    for p in paths:
        p = p.replace("\\ ", " ")
        if p.startswith("./"):
            p = p[2:]
        rest = p.split("/", 1)[1] if "/" in p else ""
        print(prefix + ("/" + rest if rest else "") or "/")' "$1"
}
m_blankroot() { BLANKROOT_DIFF_WALK='' "$bin" diff --device "$loop" --json --include-nix-managed; }
p_blankroot() {
  python3 -c 'import json,sys; [print(c["path"]) for c in json.load(sys.stdin)["changes"]]'
}
m_walker() { BLANKROOT_DIFF_WALK=1 "$bin" diff --device "$loop" --json --include-nix-managed; }
p_walker() { p_blankroot; }
m_send() {
  # receive --dump stops at the stream's end command; send may then die of SIGPIPE.
  set +o pipefail
  btrfs send -q --no-data -p "$mnt/root-blank" "$mnt/root-ro" | btrfs receive --dump
  set -o pipefail
}
p_send() { dump_paths ""; }
m_sendall() { # send for the root, plus a full send of each nested subvolume
  m_send
  set +o pipefail
  for i in "${!nested[@]}"; do
    echo "subvolume-boundary $i"
    btrfs send -q --no-data "$mnt/nested-ro-$i" | btrfs receive --dump
  done
  set -o pipefail
}
p_sendall() {
  python3 -c '
import sys
nested = sys.argv[1:]
prefix = ""
for line in sys.stdin:
    if line.startswith("subvolume-boundary "):
        prefix = "/" + nested[int(line.split()[1])]
        continue
    parts = line.split()
    if len(parts) < 2: continue
    paths = [parts[1]] + [p[5:] for p in parts[2:] if p.startswith("dest=")]
    for p in paths:
        p = p.replace("\\ ", " ")
        if p.startswith("./"):
            p = p[2:]
        rest = p.split("/", 1)[1] if "/" in p else ""
        print(prefix + ("/" + rest if rest else "") or "/")' "${nested[@]}"
}
m_fsdiff() {
  local gen
  set +o pipefail
  gen=$(btrfs subvolume find-new "$mnt/root-blank" 9999999 | awk '/transid marker/ {print $NF}')
  btrfs subvolume find-new "$mnt/root" "$gen"
  set -o pipefail
}
p_fsdiff() { sed -n -E 's/^inode .* flags [^ ]+ (.*)$/\/\1/p'; }
m_rsync() { rsync -amvxx --dry-run --no-links "$mnt/root/" "$mnt/root-blank/" 2>/dev/null || true; }
p_rsync() {
  grep -v -E '^(skipping|sending incremental|sent |total size|$)' | grep -v '/$' | sed 's|^|/|' || true
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A cold warm listed recall colds warms
methods=(blankroot walker send sendall fsdiff rsync)
for round in $(seq "$runs"); do
  echo "round $round of $runs..."
  for method in "${methods[@]}"; do
    sync; echo 3 > /proc/sys/vm/drop_caches
    t0=$(date +%s%N); "m_$method" > "$work/$method.raw"; t1=$(date +%s%N)
    "m_$method" > /dev/null; t2=$(date +%s%N)
    colds[$method]+=" $(( (t1 - t0) / 1000000 ))"
    warms[$method]+=" $(( (t2 - t1) / 1000000 ))"
  done
done
for method in "${methods[@]}"; do
  cold[$method]=$(median <<< "${colds[$method]}")
  warm[$method]=$(median <<< "${warms[$method]}")
  "p_$method" < "$work/$method.raw" | sort -u > "$work/$method.txt"
  found=$(sort -u "$work/truth.txt" | comm -12 --nocheck-order - "$work/$method.txt" | wc -l)
  listed[$method]=$(wc -l < "$work/$method.txt")
  recall[$method]=$(awk -v f="$found" -v t="$truth" 'BEGIN { printf "%.2f", 100 * f / t }')
done

echo
echo "live root: $files new files over the root and 6 nested subvolumes, against a blank of 5000 files"
echo "true differences (brute force): $truth paths"
echo "times: the median of $runs rounds (all rounds, cold | warm, after the table)"
printf '%-10s %10s %10s %10s %9s\n' method "cold ms" "warm ms" listed "recall %"
for method in "${methods[@]}"; do
  printf '%-10s %10d %10d %10d %9s\n' "$method" "${cold[$method]}" "${warm[$method]}" \
    "${listed[$method]}" "${recall[$method]}"
done
for method in "${methods[@]}"; do
  echo "  $method:${colds[$method]} |${warms[$method]}"
done
awk -v b="${cold[blankroot]}" -v f="${cold[fsdiff]}" -v bw="${warm[blankroot]}" -v fw="${warm[fsdiff]}" \
  -v r="${recall[blankroot]}" -v rf="${recall[fsdiff]}" \
  'BEGIN { printf "blankroot diff / fs-diff: %.2fx cold, %.2fx warm (goal: <= 1.2x cold), at %s%% recall against %s%%\n", b / f, bw / fw, r, rf }'
for m in walker send sendall; do
  awk -v m="$m" -v b="${cold[blankroot]}" -v s="${cold[$m]}" -v bw="${warm[blankroot]}" -v sw="${warm[$m]}" \
    'BEGIN { printf "blankroot diff vs %s: %.1fx faster cold, %.1fx warm\n", m, s / b, sw / bw }'
done
missing=$(sort -u "$work/truth.txt" | comm -23 --nocheck-order - "$work/blankroot.txt" | wc -l)
extra=$(sort -u "$work/truth.txt" | comm -13 --nocheck-order - "$work/blankroot.txt" | wc -l)
echo "blankroot diff: $missing true paths missing, $extra listed paths that are not differences"
