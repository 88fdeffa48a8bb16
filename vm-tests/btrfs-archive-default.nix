# The module's default, archive mode (archive.enable = true, keep = 3, keepDays = 14; issue 11):
# every boot keeps the root it replaces in old_roots/. In the booted guest `blankroot archives`
# lists them (newest first) and `blankroot restore` copies what nobody persisted, written during
# the first boot, back out of its archive: into the running system, under --to, --dry-run copying
# nothing, refused over an existing file without --force, a missing path refused. The archive is
# unchanged afterwards; retention keeps three.
{ helpers, ... }:
{
  name = "blankroot-btrfs-archive-default";

  nodes.machine = {
    specialisation.btrfs.configuration = {
      imports = [ ./btrfs-layout.nix ];
      boot.blankroot.enable = true;
    };
  };

  testScript = helpers + ''
    def archive_names() -> list[str]:
        listing = json.loads(machine.succeed("blankroot archives --json"))
        assert set(listing) >= {"archives", "left_alone"}, listing
        assert all("archived_at" in a for a in listing["archives"]), listing
        return [a["name"] for a in listing["archives"]]

    machine.start()
    machine.wait_for_unit("multi-user.target")
    make_btrfs("/dev/vdb")
    boot_into("btrfs")
    assert_status("archived")
    args = config()["args"]
    i = args.index("--archive-dir")
    assert args[i:i + 6] == ["--archive-dir", "old_roots", "--keep", "3", "--keep-days", "14"], args

    # Boot 1: state nobody persisted.
    machine.succeed(
        "mkdir -p /var/lib/forgotten",
        "echo precious > /var/lib/forgotten/data",
        "chmod 0600 /var/lib/forgotten/data",
        "ln -s data /var/lib/forgotten/link",
        "sync",
    )
    plant("one")
    reboot()
    assert_wiped("one")
    assert_status("archived")
    machine.fail("test -e /var/lib/forgotten")

    with subtest("blankroot archives"):
        names = archive_names()
        # the first boot's (empty) root and boot 1's
        assert len(names) == 2, names
        assert names == sorted(names, reverse=True), f"not newest first: {names}"
        machine.succeed("blankroot archives | grep -q latest")
        latest = names[0]
        before = top_level(f"cd /mnt/top/old_roots/{latest} && find . -xdev -printf '%p %m %s %l\\n' | sort")

    with subtest("blankroot restore"):
        machine.succeed("blankroot restore --dry-run /var/lib/forgotten")
        machine.fail("test -e /var/lib/forgotten")
        machine.succeed("blankroot restore /var/lib/forgotten")
        machine.succeed(
            "grep -qx precious /var/lib/forgotten/data",
            "test $(stat -c %a /var/lib/forgotten/data) = 600",
            "test $(readlink /var/lib/forgotten/link) = data",
        )
        machine.fail("blankroot restore /var/lib/forgotten/data")
        machine.succeed("echo changed > /var/lib/forgotten/data")
        machine.succeed("blankroot restore --force /var/lib/forgotten/data")
        machine.succeed("grep -qx precious /var/lib/forgotten/data")
        machine.succeed(
            f"blankroot restore --from {latest} --to /tmp/out /var/lib/forgotten/data",
            "grep -qx precious /tmp/out/var/lib/forgotten/data",
        )
        # the first boot's root never had it
        machine.fail(f"blankroot restore --from {names[1]} --to /tmp/none /canary-one")
        machine.fail("test -e /tmp/none/canary-one")
        after = top_level(f"cd /mnt/top/old_roots/{latest} && find . -xdev -printf '%p %m %s %l\\n' | sort")
        assert before == after, "restore changed the archive"

    with subtest("retention: keep = 3"):
        for boot in ["two", "three", "four"]:
            plant(boot)
            reboot()
            assert_wiped(boot)
            assert_status("archived")
        names = archive_names()
        assert len(names) == 3, names
        assert latest not in names, f"boot 1's archive {latest} outlived keep = 3: {names}"
  '';
}
