# Helpers shared by the blankroot VM tests (prepended to each testScript; `machine` is the node).
#
# Type-checked and linted with the testScript by the nixpkgs test driver (mypy and pyflakes, ty
# and ruff since nixpkgs PR #509615), and here by tests/nix/check.sh: annotated, no unused names.
import json
import re
import shlex
from typing import Any

PASSPHRASE = "supersecret"

# Console prompts, and how long to wait for one. The driver's wait_for_console_text waits forever
# by default: a prompt that never comes would hang the test until its globalTimeout.
LUKS_PROMPT = "Please enter passphrase for disk"  # systemd-cryptsetup (names the disk: match the common part)
# systemd's password agent (what nixpkgs' zfs test waits for), or zfs-import's own question
ZFS_PROMPT = "Starting password query on|Enter key for rpool"
PROMPT_TIMEOUT = 600


def entries() -> list[dict[str, str]]:
    """Every boot loader entry: its id, file, title and version lines.

    The id is the file name without the boot counter (`+LEFT[-DONE]`), as systemd-boot,
    `bootctl set-default` and `set-oneshot` name entries. Entry files are named
    `nixos-generation-N[-specialisation-NAME].conf` by older systemd-boot builders and
    `nixos-<sha256>[+N].conf` by the newest; both write `title NixOS[ (NAME)]` and
    `version Generation N ...`, which is what the tests look for.
    """
    root = machine.succeed("bootctl --print-boot-path").strip()
    out = machine.succeed(f"grep -H -E '^(title|version) ' {shlex.quote(root)}/loader/entries/*.conf")
    found: dict[str, dict[str, str]] = {}
    for line in out.splitlines():
        path, _, rest = line.partition(":")
        key, _, value = rest.partition(" ")
        name = path.rsplit("/", 1)[-1]
        entry = found.setdefault(path, {"file": path, "id": re.sub(r"\+\d+(-\d+)?\.conf$", ".conf", name)})
        entry[key] = value.strip()
    return list(found.values())


def generation_of(entry: dict[str, str]) -> int:
    m = re.match(r"Generation (\d+)", entry.get("version", ""))
    return int(m.group(1)) if m else -1


def boot_entry(specialisation: str | None = None, generation: int | None = None) -> dict[str, str]:
    """The entry of a specialisation (title `NixOS (NAME)`) or of a whole generation (title
    `NixOS`): of `generation`, or else of the newest generation that has one."""
    title = "NixOS" if specialisation is None else f"NixOS ({specialisation})"
    found = [e for e in entries() if e.get("title") == title]
    if generation is not None:
        found = [e for e in found if generation_of(e) == generation]
    assert found, f"no boot entry titled {title!r} (generation {generation}): {entries()}"
    return max(found, key=generation_of)


def boot_into(name: str, prompt: str | None = None) -> None:
    """Make the specialisation the default entry and boot it."""
    machine.succeed(f"bootctl set-default {shlex.quote(boot_entry(name)['id'])}", "sync")
    machine.crash()
    start(prompt)


def start(prompt: str | None = None) -> None:
    """Boot; `prompt`: type the passphrase when the console shows it (LUKS_PROMPT, ZFS_PROMPT)."""
    machine.start()
    if prompt:
        machine.wait_for_console_text(prompt, timeout=PROMPT_TIMEOUT)
        machine.send_console(PASSPHRASE + "\n")
    machine.wait_for_unit("multi-user.target")


def reboot(prompt: str | None = None) -> None:
    machine.shutdown()
    start(prompt)


def status() -> dict[str, Any]:
    record: dict[str, Any] = json.loads(machine.succeed("blankroot status --json"))
    return record


def assert_status(action: str) -> dict[str, Any]:
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


def config() -> dict[str, Any]:
    """The installed /etc/blankroot/config.json."""
    c: dict[str, Any] = json.loads(machine.succeed("cat /etc/blankroot/config.json"))
    return c


def jobs() -> tuple[dict[str, int], dict[str, tuple[int, str]]]:
    """First start and first completion (monotonic µs, result) of every unit job this boot,
    initrd included (its journal is flushed into the booted system's)."""
    out = machine.succeed("journalctl -b -o json --output-fields=UNIT,JOB_TYPE,JOB_RESULT")
    started: dict[str, int] = {}
    done: dict[str, tuple[int, str]] = {}
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


def assert_order(after: list[str]) -> None:
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


def assert_no_rollback() -> None:
    """blankroot did not run in the initrd of this boot and nothing says it failed."""
    _, done = jobs()
    assert "blankroot.service" not in done, "blankroot.service ran this boot"
    machine.fail("test -e /run/blankroot/status.json")
    machine.fail("systemctl --failed --no-legend | grep -q blankroot")


def assert_kernel_log_order(first: str, then: str) -> None:
    """Scripted stage 1 has no journal of its own: compare the order of kernel log lines
    (dmesg keeps the "blankroot:"/"stage-1-init:" prefixes that journald moves into fields)."""
    lines = machine.succeed("dmesg -t").splitlines()
    a = next((i for i, x in enumerate(lines) if first in x), None)
    b = next((i for i, x in enumerate(lines) if then in x), None)
    assert a is not None, f"no kernel log line containing {first!r}"
    assert b is not None, f"no kernel log line containing {then!r}"
    assert a < b, f"{first!r} logged after {then!r}"


def plant(tag: str, nested: bool = True) -> None:
    """Things the next boot must erase (/canary-*, a nested subvolume) and one it must keep."""
    machine.succeed(f"echo {tag} > /canary-{tag}", f"echo {tag} >> /persist/kept", "sync")
    if nested:
        machine.succeed(f"mkdir -p /srv && btrfs subvolume create /srv/nested-{tag}")


def assert_wiped(tag: str, nested: bool = True) -> None:
    machine.fail(f"test -e /canary-{tag}")
    machine.succeed(f"grep -qx {tag} /persist/kept")
    if nested:
        machine.fail(f"test -e /srv/nested-{tag}")


def assert_kept(tag: str) -> None:
    """The rollback did not happen: everything from the last boot is still there."""
    machine.succeed(f"test -e /canary-{tag}", f"grep -qx {tag} /persist/kept")


def make_btrfs(device: str, blank: bool = True, mkfs: str = "") -> None:
    """The "Full Disk Encryption and Impermanence on NixOS" (2025) layout: subvolumes root, persist, nix-less (the store comes from the host),
    and the read-only blank snapshot of the empty root. `mkfs`: other mkfs.btrfs arguments
    (profiles, more devices)."""
    machine.succeed(
        f"mkfs.btrfs -f -L blankroot {mkfs} {device}",
        "udevadm settle",
        f"mkdir -p /mnt/top && mount -o subvolid=5 {device} /mnt/top",
        "btrfs subvolume create /mnt/top/root",
        "btrfs subvolume create /mnt/top/persist",
        "touch /mnt/top/persist/kept",
    )
    if blank:
        machine.succeed("btrfs subvolume snapshot -r /mnt/top/root /mnt/top/root-blank")
    machine.succeed("umount /mnt/top")


def install_generation(system: str, generation: int = 2) -> None:
    """Make `system` (a toplevel in the VM's closure) generation `generation` of the system
    profile and write its boot entries, as `nixos-rebuild boot` does."""
    machine.succeed(
        f"ln -sfn {system} /nix/var/nix/profiles/system-{generation}-link",
        f"ln -sfn system-{generation}-link /nix/var/nix/profiles/system",
        f"{system}/bin/switch-to-configuration boot",
    )


def top_level(cmd: str, device: str = "/dev/disk/by-label/blankroot", options: str = "") -> str:
    """Run `cmd` with the btrfs top level mounted on /mnt/top."""
    out: str = machine.succeed(
        f"mkdir -p /mnt/top && mount -o subvolid=5{options} {device} /mnt/top",
        f"{cmd}; rc=$?; umount /mnt/top; exit $rc",
    )
    return out


def target_status(mount_point: str, action: str) -> dict[str, Any]:
    """The record of one target (`blankroot status --json`'s "targets"), from this boot."""
    s = status()
    boot = machine.succeed("cat /proc/sys/kernel/random/boot_id").strip()
    found = [t for t in s.get("targets", []) if t.get("mount_point") == mount_point]
    assert found, f"no record for {mount_point} in {s}"
    t: dict[str, Any] = found[0]
    assert t["action"] == action, f"{mount_point}: status action {t['action']!r}, want {action!r}: {t}"
    assert t["boot_id"] == boot, f"{mount_point}: record from boot {t['boot_id']}, not {boot}"
    return t


def assert_before(unit: str, then: str) -> None:
    """`unit`'s start job finished (done) before `then`'s started, this boot (initrd included)."""
    started, done = jobs()
    assert unit in done, f"no {unit} job in the journal: {sorted(done)}"
    assert done[unit][1] == "done", f"{unit} job result {done[unit][1]!r}"
    assert then in started, f"no {then} job in the journal"
    assert done[unit][0] <= started[then], f"{then} started before {unit} finished"


def plant_home(tag: str) -> None:
    """A canary in /home the next boot must erase, and a line in /persist it must keep."""
    machine.succeed(f"echo {tag} > /home/canary-{tag}", f"echo {tag} >> /persist/kept-home", "sync")


def assert_home_wiped(tag: str) -> None:
    machine.fail(f"test -e /home/canary-{tag}")
    machine.succeed(f"grep -qx {tag} /persist/kept-home")
