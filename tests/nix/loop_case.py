#!/usr/bin/env python3
"""One root-only case of tests/nix/check.sh: build the layout the module's arguments describe
(Btrfs: a loop device; ZFS: a file-backed zfs-fuse pool, started with tests/zfs-fuse-daemon.sh),
run `blankroot rollback <args> --dry-run` on it, expect exit 0 and no change.

usage: loop_case.py BLANKROOT TMPDIR CASE < eval.json
Exit 77: the case cannot run here (no ZFS daemon).
"""
import json
import os
import shlex
import subprocess
import sys


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout.strip()


def opts(args):
    """The values of the options we need to build the layout."""
    found = {"--protect": []}
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("--empty", "--dry-run"):
            found[a] = True
            i += 1
        elif a == "--protect":
            found[a].append(args[i + 1])
            i += 2
        else:
            found[a] = args[i + 1]
            i += 2
    return found


def systemd_split(line):
    """ExecStart= words: double quotes with C escapes, %% and $$ for literal % and $."""
    return [w.replace("%%", "%").replace("$$", "$") for w in shlex.split(line, posix=True)]


def subvolume(top, name):
    path = os.path.join(top, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    run("btrfs", "subvolume", "create", path)
    return path


def dry_run(binary, tmp, case, real):
    env = dict(os.environ, BLANKROOT_KMSG="none", BLANKROOT_KERNEL_CMDLINE="")
    status = os.path.join(tmp, f"{case}-status.json")
    p = subprocess.run(
        [binary, "rollback", *real, "--dry-run", "--allow-outside-initrd", "--status-file", status],
        text=True, capture_output=True, env=env,
    )
    print(f"  $ blankroot rollback {shlex.join(real)} --dry-run ... -> exit {p.returncode}")
    if p.returncode != 0:
        sys.exit(f"exit {p.returncode}\n{p.stdout}\n{p.stderr}")


def zfs_case(binary, tmp, case, args, o):
    """The module's ZFS arguments on a pool of our own (the pool name is made unique; the
    dataset paths below it are the module's)."""
    daemon = os.path.join(os.path.dirname(__file__), "..", "zfs-fuse-daemon.sh")
    if not os.path.exists(daemon) or subprocess.run(["sh", daemon, "start"]).returncode != 0:
        print("  no ZFS daemon (zfs-fuse): case skipped")
        sys.exit(77)
    old = o["--dataset"].split("/")[0]
    pool = f"bnix{os.getpid()}"
    rename = lambda v: pool + v[len(old):] if v.split("/")[0] == old else v  # noqa: E731
    real = [rename(a) for a in args]
    ro = opts(real)
    vdev = os.path.join(tmp, f"{case}.zpool")
    run("truncate", "-s", "128M", vdev)
    run("zpool", "create", "-o", "cachefile=none", "-O", "mountpoint=none", pool, vdev)
    try:
        root = ro["--dataset"]
        run("zfs", "create", "-p", "-o", "mountpoint=legacy", root)
        run("zfs", "snapshot", f"{root}@{ro.get('--snapshot', 'blank')}")
        run("zfs", "snapshot", f"{root}@later")
        if "--archive-dir" in ro:
            run("zfs", "create", "-p", "-o", "mountpoint=legacy", ro["--archive-dir"])
        dry_run(binary, tmp, case, real)
        if f"{root}@later" not in run("zfs", "list", "-H", "-t", "snapshot", "-o", "name"):
            sys.exit("the dry run changed the pool")
    finally:
        subprocess.run(["zpool", "destroy", "-f", pool], capture_output=True)


def main():
    binary, tmp, case = sys.argv[1:4]
    c = json.load(sys.stdin)["rootCases"][case]
    args = c["args"]
    want = [c["bin"], "rollback"] + args
    if systemd_split(c["execStart"]) != want:
        sys.exit(f"ExecStart does not split back into the arguments:\n{c['execStart']}\n{want}")
    o = opts(args)
    if "--dataset" in o:
        return zfs_case(binary, tmp, case, args, o)
    image, top = os.path.join(tmp, f"{case}.img"), os.path.join(tmp, f"mnt-{case}")
    os.makedirs(top)
    run("truncate", "-s", "300M", image)
    run("mkfs.btrfs", "-q", "-f", image)
    loop = run("losetup", "--find", "--show", image)
    with open(os.path.join(tmp, "loops"), "a") as f:
        f.write(loop + "\n")
    try:
        run("mount", "-o", "subvolid=5", loop, top)
        root = subvolume(top, o["--subvolume"])
        if not o.get("--empty"):
            blank = os.path.join(top, o["--blank"])
            os.makedirs(os.path.dirname(blank), exist_ok=True)
            run("btrfs", "subvolume", "snapshot", "-r", root, blank)
        with open(os.path.join(root, "canary"), "w") as f:
            f.write("erase me\n")
        subvolume(root, "var/lib/machines")
        for p in o["--protect"]:
            with open(os.path.join(subvolume(top, p), "keep"), "w") as f:
                f.write("keep me\n")
        if "--archive-dir" in o:
            os.makedirs(os.path.join(top, o["--archive-dir"]), exist_ok=True)
        run("umount", top)

        real = list(args)
        real[real.index("--device") + 1] = loop
        dry_run(binary, tmp, case, real)

        run("mount", "-o", "subvolid=5", loop, top)
        if not os.path.exists(os.path.join(top, o["--subvolume"], "canary")):
            sys.exit("the dry run changed the root")
        run("umount", top)
    finally:
        subprocess.run(["umount", top], capture_output=True)
        subprocess.run(["losetup", "-d", loop], capture_output=True)


if __name__ == "__main__":
    main()
