# Btrfs root (the layout of "Full Disk Encryption and Impermanence on NixOS" (2025) without LUKS), systemd stage 1, everything derived from
# fileSystems."/", in delete mode (archive.enable = false; the module archives by default, see
# btrfs-archive-default.nix): the root is put back to root-blank at every boot; /persist stays.
{ helpers, ... }:
{
  name = "blankroot-btrfs";

  nodes.machine = {
    specialisation.btrfs.configuration = {
      imports = [ ./btrfs-layout.nix ];
      boot.blankroot.enable = true;
      boot.blankroot.archive.enable = false;
    };
  };

  testScript = helpers + ''
    machine.start()
    machine.wait_for_unit("multi-user.target")
    make_btrfs("/dev/vdb")
    boot_into("btrfs")

    assert "/dev/vdb on / type btrfs" in machine.succeed("mount"), machine.succeed("mount")
    assert "(initrd)" in machine.succeed("systemd-analyze")
    assert_status("rolled-back")
    assert_order([])

    for boot in ["one", "two"]:
        plant(boot)
        reboot()
        assert_wiped(boot)
        assert_status("rolled-back")
        assert_order([])
    machine.succeed("grep -qx one /persist/kept")
  '';
}
