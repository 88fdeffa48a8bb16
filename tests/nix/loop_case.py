#!/usr/bin/env python3
"""One root-only case of tests/nix/check.sh: build the layout the module's arguments describe
(Btrfs: a loop device, or a RAID1 over one loop device per member; ZFS: a file-backed zfs-fuse
pool, started with tests/zfs-fuse-daemon.sh), run `blankroot rollback <args> --dry-run` on it,
expect exit 0 and no change.

A multi-device case ("members" in the case) whose arguments do not name every member
(--device, device= in --mount-options) is the degraded boot: those members lose their btrfs
signature and the kernel forgets them, so only `degraded` in --mount-options lets the top level
mount; the same dry run without it must fail.

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
        if a in ("--empty", "--dry-run", "--before-mount"):
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


def dry_run(binary, tmp, case, real, want=0):
    env = dict(os.environ, BLANKROOT_KMSG="none", BLANKROOT_KERNEL_CMDLINE="")
    status = os.path.join(tmp, f"{case}-status.json")
    # The booted system's unit runs with --before-mount, its own permission to run outside the
    # initrd; every other unit runs in the initrd, which a test on the host is not.
    outside = [] if "--before-mount" in real else ["--allow-outside-initrd"]
    p = subprocess.run(
        [binary, "rollback", *real, "--dry-run", *outside, "--status-file", status],
        text=True, capture_output=True, env=env,
    )
    print(f"  $ blankroot rollback {shlex.join(real)} --dry-run ... -> exit {p.returncode}")
    if want != 0 and p.returncode != 0:
        print("    " + (p.stderr.strip().splitlines() or ["(no error text)"])[-1])
    if (p.returncode == 0) != (want == 0):
        sys.exit(f"exit {p.returncode}, want {'0' if want == 0 else 'non-zero'}\n{p.stdout}\n{p.stderr}")


def mount_devices(args):
    """The device= paths of --mount-options."""
    if "--mount-options" not in args:
        return []
    value = args[args.index("--mount-options") + 1]
    return [o[len("device="):] for o in value.split(",") if o.startswith("device=")]


def renamed(args, loops):
    """The arguments with the members' paths (--device, device=) replaced by their loop devices."""
    real = list(args)
    real[real.index("--device") + 1] = loops[real[real.index("--device") + 1]]
    if "--mount-options" in real:
        i = real.index("--mount-options") + 1
        real[i] = ",".join(
            "device=" + loops[o[len("device="):]] if o.startswith("device=") else o
            for o in real[i].split(",")
        )
    return real


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
    members = c.get("members") or [o["--device"]]
    named = {o["--device"], *mount_devices(args)}
    unknown = named - set(members)
    if unknown:
        sys.exit(f"the arguments name devices that are not members of the filesystem: {sorted(unknown)}")
    top = os.path.join(tmp, f"mnt-{case}")
    os.makedirs(top)
    loops = {}
    for n, member in enumerate(members):
        image = os.path.join(tmp, f"{case}-{n}.img")
        run("truncate", "-s", "300M", image)
        loops[member] = run("losetup", "--find", "--show", image)
        with open(os.path.join(tmp, "loops"), "a") as f:
            f.write(loops[member] + "\n")
    raid = ["-d", "raid1", "-m", "raid1"] if len(members) > 1 else []
    run("mkfs.btrfs", "-q", "-f", *raid, *loops.values())
    loop = loops[o["--device"]]
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

        real = renamed(args, loops)
        missing = [loops[m] for m in members if m not in named]
        for gone in missing:
            run("wipefs", "-q", "-a", gone)
            run("btrfs", "device", "scan", "--forget", gone)
        if missing:
            mount_options = real[real.index("--mount-options") + 1].split(",")
            if "degraded" not in mount_options:
                sys.exit("a member is missing and --mount-options has no degraded")
            without = list(real)
            without[without.index("--mount-options") + 1] = ",".join(x for x in mount_options if x != "degraded")
            print(f"  {len(missing)} of {len(members)} members removed; without degraded the top level must not mount:")
            dry_run(binary, tmp, case, without, want=1)
        dry_run(binary, tmp, case, real)

        run("mount", "-o", ",".join(["subvolid=5", "ro", *(["degraded"] if missing else [])]), loop, top)
        if not os.path.exists(os.path.join(top, o["--subvolume"], "canary")):
            sys.exit("the dry run changed the root")
        run("umount", top)
    finally:
        subprocess.run(["umount", top], capture_output=True)
        for dev in loops.values():
            subprocess.run(["btrfs", "device", "scan", "--forget", dev], capture_output=True)
            subprocess.run(["losetup", "-d", dev], capture_output=True)


if __name__ == "__main__":
    main()
