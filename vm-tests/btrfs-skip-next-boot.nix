# blankroot skip-next-boot (issue 12): the way in where the kernel command line cannot be edited
# (Secure Boot). Run on the booted system, it leaves a one-shot request on the disk
# (.blankroot-skip-next-boot in the top-level subvolume); the next boot leaves the root as it is,
# records `skipped` with the reason and clears the request, so the boot after it wipes again. A
# cancelled request skips nothing. The target comes from /etc/blankroot/config.json.
{ helpers, ... }:
{
  name = "blankroot-btrfs-skip-next-boot";

  nodes.machine = {
    specialisation.btrfs.configuration = {
      imports = [ ./btrfs-layout.nix ];
      boot.blankroot.enable = true;
    };
  };

  testScript = helpers + ''
    MARKER = "/mnt/top/.blankroot-skip-next-boot"

    machine.start()
    machine.wait_for_unit("multi-user.target")
    make_btrfs("/dev/vdb")
    boot_into("btrfs")
    assert_status("archived")

    with subtest("a cancelled request skips nothing"):
        plant("zero")
        machine.succeed("blankroot skip-next-boot", "blankroot skip-next-boot --cancel", "sync")
        top_level(f"test ! -e {MARKER}")
        reboot()
        assert_wiped("zero")
        assert_status("archived")

    with subtest("boot 1 asks, boot 2 is skipped: the canary is kept"):
        plant("one")
        machine.succeed("blankroot skip-next-boot", "sync")
        top_level(f"test -e {MARKER}")
        reboot()
        assert_kept("one")
        machine.succeed("test -d /srv/nested-one")
        s = assert_status("skipped")
        assert any("skip-next-boot" in w for w in s["warnings"]), f"no reason in the record: {s}"
        machine.succeed("journalctl -b -u blankroot.service | grep -q skip-next-boot")
        # consumed durably by the boot that honoured it
        top_level(f"test ! -e {MARKER}")

    with subtest("boot 3 wipes again"):
        reboot()
        assert_wiped("one")
        assert_status("archived")
  '';
}
