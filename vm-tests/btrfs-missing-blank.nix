# The blank snapshot is missing: nothing may be lost, and the boot follows onFailure.
# continue: the old root boots, blankroot-status.service fails visibly.
# stop: the old root is not mounted; the initrd stops in emergency mode; the next (normal) boot
# still finds everything. Then the blank is created and the rollback works again.
{ helpers, ... }:
let
  spec = onFailure: {
    imports = [ ./btrfs-layout.nix ];
    boot.blankroot = {
      enable = true;
      inherit onFailure;
    };
  };
in
{
  name = "blankroot-btrfs-missing-blank";

  nodes.machine = {
    specialisation.continue.configuration = spec "continue";
    specialisation.stop.configuration = spec "stop";
  };

  testScript = helpers + ''
    machine.start()
    machine.wait_for_unit("multi-user.target")
    make_btrfs("/dev/vdb", blank=False)
    top_level("echo zero > /mnt/top/root/canary-zero && echo zero > /mnt/top/persist/kept")

    with subtest("onFailure = continue: the old root boots, loudly"):
        boot_into("continue")
        assert_kept("zero")
        s = assert_status("failed")
        assert "root-blank" in (s["error"] or ""), s
        machine.succeed("journalctl -b -u blankroot-status.service | grep -q 'did not run\\|failed'")
        plant("one")

    with subtest("onFailure = stop: the old root is not mounted"):
        machine.succeed(f"bootctl set-oneshot {boot_entry('stop')['id']}", "sync")
        machine.shutdown()
        machine.start()
        machine.wait_for_console_text("emergency mode", timeout=PROMPT_TIMEOUT)
        machine.crash()

    with subtest("the next boot (continue) still has everything"):
        start()
        assert_kept("zero")
        assert_kept("one")
        assert_status("failed")

    with subtest("with the blank back, the rollback works"):
        machine.succeed(
            "mkdir -p /mnt/top && mount -o subvolid=5 /dev/disk/by-label/blankroot /mnt/top",
            "btrfs subvolume create /mnt/top/empty",
            "btrfs subvolume snapshot -r /mnt/top/empty /mnt/top/root-blank",
            "btrfs subvolume delete /mnt/top/empty",
            "umount /mnt/top",
        )
        reboot()
        assert_wiped("one")
        machine.fail("test -e /canary-zero")
        machine.succeed("grep -qx zero /persist/kept")
        assert_status("archived")
        assert_order([])
  '';
}
