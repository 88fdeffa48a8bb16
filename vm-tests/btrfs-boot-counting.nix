# Automatic boot assessment (issue 12): with systemd-boot's boot counting
# (boot.loader.systemd-boot.bootCounting) blankroot-status.service is required by
# boot-complete.target, so a boot whose rollback failed is not marked good (its entry keeps its
# counter, one try spent) and a boot whose rollback worked is (systemd-bless-boot removes the
# counter). Entries are found by title: the counter (+LEFT[-DONE]) is in the file name.
{ helpers, ... }:
{
  name = "blankroot-btrfs-boot-counting";

  nodes.machine = {
    # On the machine itself: the boot loader entries are written by its installer.
    boot.loader.systemd-boot.bootCounting = {
      enable = true;
      tries = 2;
    };
    specialisation.counting.configuration = {
      imports = [ ./btrfs-layout.nix ];
      boot.blankroot.enable = true;
    };
  };

  testScript = helpers + ''
    def counter(entry: dict[str, str]) -> str:
        m = re.search(r"(\+\d+(-\d+)?)?\.conf$", entry["file"])
        assert m, entry
        return m.group(1) or ""

    machine.start()
    machine.wait_for_unit("multi-user.target")
    assert counter(boot_entry("counting")) == "+2", boot_entry("counting")
    make_btrfs("/dev/vdb", blank=False)

    with subtest("the rollback fails: boot-complete.target is not reached, the try is spent"):
        boot_into("counting")
        assert_status("failed")
        unit = "blankroot-status.service"
        assert "boot-complete.target" in machine.succeed(f"systemctl show -p RequiredBy --value {unit}").split()
        assert "boot-complete.target" in machine.succeed(f"systemctl show -p Before --value {unit}").split()
        machine.fail("systemctl is-active boot-complete.target")
        machine.fail("systemctl is-active systemd-bless-boot.service")
        assert counter(boot_entry("counting")) == "+1-1", boot_entry("counting")

    with subtest("with the blank back, the boot is marked good"):
        top_level(
            "btrfs subvolume create /mnt/top/empty"
            " && btrfs subvolume snapshot -r /mnt/top/empty /mnt/top/root-blank"
            " && btrfs subvolume delete /mnt/top/empty"
        )
        reboot()
        assert_status("archived")
        machine.wait_for_unit("boot-complete.target")
        machine.wait_for_unit("systemd-bless-boot.service")
        assert counter(boot_entry("counting")) == "", boot_entry("counting")
  '';
}
