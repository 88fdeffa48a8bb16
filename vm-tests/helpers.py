# Helpers shared by the blankroot VM tests (prepended to each testScript; `machine` is the node).
import json

PASSPHRASE = "supersecret"


def boot_entry(name):
    return f"nixos-generation-1-specialisation-{name}.conf"


def boot_into(name, unlock=None):
    """Make the specialisation the default entry and boot it."""
    machine.succeed(f"bootctl set-default {boot_entry(name)}", "sync")
    machine.crash()
    start(unlock)


def start(unlock=None):
    """Boot; `unlock`: type the LUKS passphrase at systemd-cryptsetup's prompt (whose wording
    names the disk by label, mount point or mapper name: match only the common part)."""
    machine.start()
    if unlock:
        machine.wait_for_console_text("Please enter passphrase for disk")
        machine.send_console(PASSPHRASE + "\n")
    machine.wait_for_unit("multi-user.target")


def reboot(unlock=None):
    machine.shutdown()
    start(unlock)


def status():
    return json.loads(machine.succeed("blankroot status --json"))


def assert_status(action):
    """The record is from this boot and says `action`; the booted system's check agrees."""
    s = status()
    boot = machine.succeed("cat /proc/sys/kernel/random/boot_id").strip()
    assert s["action"] == action, f"status action {s['action']!r}, want {action!r}: {s}"
    assert s["boot_id"] == boot, f"status record is from boot {s['boot_id']}, not {boot}"
    if action == "failed":
        machine.fail("blankroot status --check")
        machine.succeed("systemctl is-failed blankroot-status.service")
        machine.succeed("systemctl --failed --no-legend | grep -q blankroot-status.service")
    else:
        machine.succeed("blankroot status --check")
        machine.succeed("systemctl is-active blankroot-status.service")
    return s


def jobs():
    """First start and first completion (monotonic µs, result) of every unit job this boot,
    initrd included (its journal is flushed into the booted system's)."""
    out = machine.succeed("journalctl -b -o json --output-fields=UNIT,JOB_TYPE,JOB_RESULT")
    started, done = {}, {}
    for line in out.splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        unit = r.get("UNIT")
        if not isinstance(unit, str) or r.get("JOB_TYPE") != "start":
            continue
        t = int(r["__MONOTONIC_TIMESTAMP"])
        if "JOB_RESULT" in r:
            done.setdefault(unit, (t, r["JOB_RESULT"]))
        else:
            started.setdefault(unit, t)
    return started, done


def assert_order(after):
    """blankroot.service started after every unit in `after` finished, and finished before
    sysroot.mount started."""
    started, done = jobs()
    assert "blankroot.service" in done, f"no blankroot.service job in the journal: {sorted(done)}"
    t_done, result = done["blankroot.service"]
    assert result == "done", f"blankroot.service job result {result!r}"
    t_start = started["blankroot.service"]
    for unit in after:
        assert unit in done, f"{unit} did not run this boot"
        assert done[unit][0] <= t_start, f"blankroot.service started before {unit} finished"
    assert "sysroot.mount" in started, "no sysroot.mount job in the journal"
    assert t_done <= started["sysroot.mount"], "sysroot.mount started before blankroot.service finished"
    machine.succeed("systemctl is-active -- -.mount")


def assert_kernel_log_order(first, then):
    """Scripted stage 1 has no journal of its own: compare the order of kernel log lines
    (dmesg keeps the "blankroot:"/"stage-1-init:" prefixes that journald moves into fields)."""
    lines = machine.succeed("dmesg -t").splitlines()
    a = next((i for i, x in enumerate(lines) if first in x), None)
    b = next((i for i, x in enumerate(lines) if then in x), None)
    assert a is not None, f"no kernel log line containing {first!r}"
    assert b is not None, f"no kernel log line containing {then!r}"
    assert a < b, f"{first!r} logged after {then!r}"


def plant(tag, nested=True):
    """Things the next boot must erase (/canary-*, a nested subvolume) and one it must keep."""
    machine.succeed(f"echo {tag} > /canary-{tag}", f"echo {tag} >> /persist/kept", "sync")
    if nested:
        machine.succeed(f"mkdir -p /srv && btrfs subvolume create /srv/nested-{tag}")


def assert_wiped(tag, nested=True):
    machine.fail(f"test -e /canary-{tag}")
    machine.succeed(f"grep -qx {tag} /persist/kept")
    if nested:
        machine.fail(f"test -e /srv/nested-{tag}")


def assert_kept(tag):
    """The rollback did not happen: everything from the last boot is still there."""
    machine.succeed(f"test -e /canary-{tag}", f"grep -qx {tag} /persist/kept")


def make_btrfs(device, blank=True):
    """The seed 002 layout: subvolumes root, persist, nix-less (the store comes from the host),
    and the read-only blank snapshot of the empty root."""
    machine.succeed(
        f"mkfs.btrfs -f -L blankroot {device}",
        "udevadm settle",
        f"mkdir -p /mnt/top && mount -o subvolid=5 {device} /mnt/top",
        "btrfs subvolume create /mnt/top/root",
        "btrfs subvolume create /mnt/top/persist",
        "touch /mnt/top/persist/kept",
    )
    if blank:
        machine.succeed("btrfs subvolume snapshot -r /mnt/top/root /mnt/top/root-blank")
    machine.succeed("umount /mnt/top")


def top_level(cmd):
    """Run `cmd` with the btrfs top level mounted on /mnt/top."""
    return machine.succeed(
        "mkdir -p /mnt/top && mount -o subvolid=5 /dev/disk/by-label/blankroot /mnt/top",
        f"{cmd}; rc=$?; umount /mnt/top; exit $rc",
    )
