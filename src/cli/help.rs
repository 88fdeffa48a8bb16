//! The help texts: clap prints them as written (no wrapping), so they are wrapped here. The
//! man page (`blankroot-docs`) is made from the same texts.

macro_rules! rollback_text {
    () => {
        "\
Put / back to the blank, from the initrd, before the root is mounted.

Btrfs (--device DEV): mounts the top level of DEV (subvolid=5) and replaces the subvolume NAME
(default `root`) with a writable snapshot of the read-only blank (default `root-blank`), or with
an empty subvolume (--empty). The old root and every subvolume nested in it are deleted, or with
--archive-dir moved to DIR/<UTC time> and old archives pruned (--keep N newest, counting the new
one; --keep-days D by the time in their names; only archives blankroot marked, unless
--prune-unmarked). Names are relative to the top level; a root's last component may be 240 bytes.
Everything is checked before the first change, the metadata space the swap needs included; the
new root is swapped in with one rename (RENAME_EXCHANGE), so the root's name exists at every
instant. --protect NAME refuses to run if NAME is inside the root. Below --min-free-space
(default 256M, or 5% of a smaller filesystem) of free data or metadata space the root is deleted
instead of archived, with a warning.

ZFS (--dataset POOL/DATASET): rolls the dataset back to its blank snapshot (--snapshot, default
`blank`) with `zfs rollback -r`, after naming the newer snapshots that destroys; with
--archive-dir POOL/PATH the old root is renamed to POOL/PATH/<UTC time> and a clone of the blank
takes its place. --import imports the pool first (zpool import -N) if it is not imported. zfs
and zpool are run from PATH, or from beside --zfs-command; never through a shell.

One run per disk at a time: a second one waits up to --lock-wait seconds (default 30), then
exits 1 having changed nothing. Runs only in an initrd (/etc/initrd-release) unless
--allow-outside-initrd, once per boot there; `rd.blankroot=0` on the kernel command line skips it. Each run leaves a record in --status-file.

More than /: a target is known by its mount point (--mount-point, default /), e.g. /home on a
subvolume `home` with the blank `home-blank`; its record goes to status.<mount point>.json beside
the root's (/run/blankroot/status.home.json). --config FILE [TARGET...] rolls back the targets of
a configuration (its \"targets\"), or those named, one after the other, each with its own lock and
record. --before-mount is the flag of the booted system's unit for a target whose device only
the booted system unlocks: it allows the run outside the initrd, only for a target other than /
and only while nothing of it is mounted."
    };
}

macro_rules! status_text {
    () => {
        "\
Print the record of the last run of every target (--json: the root's record as written, with
every target's record in \"targets\").

The targets are those of /etc/blankroot/config.json (or --config), else the records found in
--status-file and beside it. --check exits 1 unless every target's record is from this boot and
its run did not fail; on NixOS a target the booted system (/run/booted-system) does not wipe is
named and not checked: a switch since the boot added it."
    };
}

macro_rules! diff_text {
    () => {
        "\
List what the next boot erases.

Every path created, modified (content, mode, owner, link target, type) or deleted in the live
root compared with the blank, nested subvolumes included: one line each with its full path,
under a header per directory with counts and sizes. Leaves out other mounts, --persisted paths
(and those of the configuration) and what NixOS recreates at every boot (/etc links into the
store, /tmp, /run; listed with --include-nix-managed). Without target options it reads
/etc/blankroot/config.json (or --config) and lists TARGET (a mount point, default /: `blankroot
diff /home`), else the last run's status record, else looks at the filesystem mounted on /. --root PATH alone: everything on PATH's filesystem is ephemeral (tmpfs
root). Never writes; the Btrfs top level is mounted read-only.
--suggest impermanence|preservation prints one Nix expression instead, the entries that would
persist what is lost (environment.persistence or preservation.preserveAt under --persist-dir,
default the configuration's persist_dir, else /persist); the listing goes to stderr.
Exit 0 listed, 1 failed or incomplete, 2 usage error."
    };
}

macro_rules! check_text {
    () => {
        "\
Check that the next boot's rollback will go through and wipes nothing that must persist.

The rollback's preflight on the running system, read-only: prints the plan and a verdict. It
also reports what the root holds that must not be lost and that nothing persists (another mount,
--persisted, --persisted-from, the configuration): /etc/machine-id, the SSH host keys,
/var/lib/nixos, the Secure Boot keys (/etc/secureboot, /var/lib/sbctl), systemd's timer stamps,
random seed and credential secret, /etc/zfs/zpool.cache and the key files the configuration
names; and each path the configuration persists whose persistent copy is missing or empty while
its data is still only on the root, with the command that copies it now. Each finding is one
line: the path, why it matters, what to set. ZFS: a blank snapshot without a `zfs hold` is a
warning. The target comes from the rollback options, else /etc/blankroot/config.json (--config):
every target of it, or the TARGETs named by mount point.
--stale lists instead what the persistent stores of the configuration hold that no persistence
entry names any more, with sizes, newest change first (read-only, exit 0).
Exit 0 ok (the findings are warnings), 1 problems (the findings too with --strict), 2 usage error."
    };
}

macro_rules! archives_text {
    () => {
        "\
List the archived roots, newest first.

Btrfs: the subvolumes in the archive directory whose names are archive times; ZFS: the archive
datasets. For each: its name, when it was archived (UTC), its age, nested subvolumes, its size
where the filesystem can tell cheaply, and which one `latest` means; then the entries retention
leaves alone. The target options come from the command line (with --archive-dir), else from
/etc/blankroot/config.json (or --config): TARGET by its mount point (default /). Read-only: the Btrfs top level is mounted read-only.
Exit 0 listed, 1 failed, 2 usage error."
    };
}

macro_rules! restore_text {
    () => {
        "\
Copy paths back out of an archived root.

Each PATH is an absolute path as it was in the old root (/etc/ssh/ssh_host_ed25519_key,
/var/lib/foo); it is copied from the archive --from (default latest) into the running system,
or under --to DIR. Type, mode, owner, timestamps, extended attributes and ACLs are kept;
symlinks stay symlinks and are never followed; hard links within the copy stay linked;
directories are copied whole, nested subvolumes included. An existing destination is refused
(nothing is copied) unless --force, which replaces files and copies into directories. The
archive is only ever read (a read-only mount). What is restored into / is wiped again at the
next boot unless it is persisted: restore it --to the persistent directory, or persist it. With
a configuration, the archives read are those of the target whose mount point holds the PATHs
(/home/alice/notes: /home's), or of --target.
Exit 0 copied, 1 failed or partly copied (it says what was), 2 usage error."
    };
}

macro_rules! persist_text {
    () => {
        "\
Copy live paths into the persistent store, before persisting them.

Each PATH, an absolute path on the running system (/var/lib/foo), is copied to STORE/PATH
(/persist/var/lib/foo): --to STORE, else the persist_dir of /etc/blankroot/config.json (or
--config). Type, mode, owner, timestamps, extended attributes and ACLs are kept; symlinks stay
symlinks and are never followed; hard links within the copy stay linked; file content is
reflinked when the store shares the path's filesystem, else copied with its holes kept. Missing
parent directories are made with the owner and mode of the PATH's. Refused before anything is
written: a PATH that is persisted already (a bind mount from the store, beneath one, a symlink
into it), a mount point, a PATH overlapping the store, a store on a filesystem the next boot
wipes (the configuration's targets; / without one), and an existing destination unless --force,
which merges into it (the copy's entries replace those of the same name, nothing else is
removed). Each copy is made under a temporary name and renamed into place. Then the entry to
add is printed, for impermanence and for preservation.
Exit 0 copied, 1 refused or partly copied (it says what was), 2 usage error."
    };
}

macro_rules! init_text {
    () => {
        "\
Make the blank of a target, once (the rollback never makes one); safe to run again.

Btrfs: the read-only subvolume --blank (default root-blank) beside the root, holding only
directories: the mount points inside the target that the configuration's mounts and other
targets need, and each --dir, with the owner and mode of the same directory in the root (else
root's 0755). The root is not touched, so it works at install time (a disko postCreateHook) and
on a system that has run for years; the next boot then keeps the old root as an archive (the
module's default). It is made under a temporary name and renamed into place. ZFS: the snapshot
DATASET@blank (--snapshot) of an empty root, held (zfs hold blankroot) so that a stray zfs
destroy fails; a populated root is refused, with the steps to an empty one that keeps it. An
existing blank is never replaced (on ZFS it is held if it is not). The target options come from
the command line, else from /etc/blankroot/config.json (or --config): TARGET by its mount point.
Exit 0 made or there already, 1 refused or failed (nothing changed), 2 usage error."
    };
}

macro_rules! skip_text {
    () => {
        "\
Leave the root (every target) as it is at the next boot, once.

Records a one-shot request on the disk for every target of the configuration, or the TARGETs
named (Btrfs: a marker in the top-level subvolume; ZFS: the user property
org.blankroot:skip-next-boot on the dataset). The next rollback sees it,
leaves the root alone, records the run as skipped and clears the request. --cancel removes a
pending request. Works where the kernel command line cannot be edited (Secure Boot).
Exit 0 done, 1 failed, 2 usage error."
    };
}

macro_rules! exit_codes_text {
    () => {
        "Exit codes: 0 done or skipped on purpose, 1 runtime failure, 2 usage or configuration error."
    };
}

macro_rules! kill_switch_text {
    () => {
        "Kill switch: `rd.blankroot=0` (or no, false, off) on the kernel command line turns the rollback
off for that boot, even when its command line or configuration is broken."
    };
}

/// The first line of `blankroot --help`.
pub(super) const ABOUT: &str = "Put / back to a blank snapshot at every boot (Btrfs and ZFS)";

pub(super) const LONG_ABOUT: &str = "\
Put / back to a blank snapshot at every boot (Btrfs and ZFS).

blankroot runs in the initrd, before the root filesystem is mounted, and replaces the root
subvolume (Btrfs) or dataset (ZFS) with a copy of a blank snapshot, so that only what is kept
elsewhere on purpose survives a reboot. Everything is checked before the first change, and each
run leaves a record that the booted system can check (blankroot status --check).";

// Usage lines: the continuation lines line up under `Usage: blankroot COMMAND `.

macro_rules! rollback_usage {
    () => {
        "\
blankroot rollback --device DEV [--subvolume NAME] (--blank NAME | --empty)
                         [--archive-dir DIR [--keep N] [--keep-days D] [--prune-unmarked]]
                         [--protect NAME]... [--min-free-space SIZE] [--mount-options OPTS]
                         [--fs auto|btrfs] [--mount-point PATH] [OPTIONS]
       blankroot rollback --dataset POOL/DATASET [--snapshot NAME] [--import [--force-import]]
                         [--archive-dir POOL/PATH [--keep N] [--keep-days D] [--prune-unmarked]]
                         [--zfs-command PATH] [--fs auto|zfs] [--mount-point PATH] [OPTIONS]
       blankroot rollback --config FILE [TARGET]... [OPTIONS]"
    };
}

macro_rules! status_usage {
    () => {
        "blankroot status [--status-file PATH] [--config FILE] [--json | --format FORMAT] [--check]
                        [--output FILE]"
    };
}

macro_rules! diff_usage {
    () => {
        "\
blankroot diff [TARGET] [--device DEV [--subvolume NAME] [--blank NAME] | --dataset POOL/DATASET
                      [--snapshot NAME] | --root PATH] [--persisted PATH]... [--persisted-from FILE]...
                      [--config FILE] [--json] [--include-nix-managed]
                      [--suggest impermanence|preservation [--persist-dir DIR]]"
    };
}

macro_rules! check_usage {
    () => {
        "\
blankroot check [TARGET]... [the rollback's options | --config FILE] [--persisted PATH]...
                       [--persisted-from FILE]... [--strict]
       blankroot check --stale [--config FILE] [--json]"
    };
}

macro_rules! archives_usage {
    () => {
        "blankroot archives [TARGET] [the target options | --config FILE] [--json]"
    };
}

macro_rules! restore_usage {
    () => {
        "\
blankroot restore [the target options | --config FILE [--target TARGET]] [--from NAME|latest]
                         [--to DIR] [--force] [--dry-run] PATH..."
    };
}

macro_rules! persist_usage {
    () => {
        "blankroot persist [--config FILE] [--to STORE] [--force] [--dry-run] PATH..."
    };
}

macro_rules! init_usage {
    () => {
        "blankroot init [TARGET] [the target options | --config FILE] [--dir PATH]... [--dry-run]"
    };
}

macro_rules! skip_usage {
    () => {
        "blankroot skip-next-boot [TARGET]... [the target options | --config FILE] [--cancel]"
    };
}

pub(super) const USAGE: &str = concat!(
    rollback_usage!(),
    "\n       ",
    status_usage!(),
    "\n       ",
    diff_usage!(),
    "\n       ",
    check_usage!(),
    "\n       ",
    archives_usage!(),
    "\n       ",
    restore_usage!(),
    "\n       ",
    persist_usage!(),
    "\n       ",
    init_usage!(),
    "\n       ",
    skip_usage!(),
    "\n       blankroot help [COMMAND] | --help | --version

The rollback's OPTIONS: [--dry-run] [--allow-outside-initrd | --before-mount] [--status-file PATH]
                        [--lock-wait SECONDS] [--log-level error|warn|info|debug]
A TARGET is a mount point: / (the root) or another filesystem the configuration wipes (/home)."
);

pub(super) const AFTER_HELP: &str = concat!(
    "rollback: ",
    rollback_text!(),
    "\n\nstatus: ",
    status_text!(),
    "\n\ndiff: ",
    diff_text!(),
    "\n\ncheck: ",
    check_text!(),
    "\n\narchives: ",
    archives_text!(),
    "\n\nrestore: ",
    restore_text!(),
    "\n\npersist: ",
    persist_text!(),
    "\n\ninit: ",
    init_text!(),
    "\n\nskip-next-boot: ",
    skip_text!(),
    "\n\n",
    exit_codes_text!(),
    "\n",
    kill_switch_text!(),
    "\n\n`blankroot COMMAND --help` lists the options of a command; `man blankroot` has them all."
);

/// Exit codes and the kill switch, after each command's options.
pub(super) const COMMAND_AFTER_HELP: &str = concat!(exit_codes_text!(), "\n", kill_switch_text!());

pub(super) const BTRFS: &str = "Btrfs options";
pub(super) const ZFS: &str = "ZFS options";
pub(super) const ARCHIVES: &str = "Archive options";
