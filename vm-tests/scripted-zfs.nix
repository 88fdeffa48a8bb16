# Scripted stage 1, ZFS ("ZFS Impermanence in a VM" (saylesss88, 2026) with a working rollback): zfs.nix imports the pool in
# postResumeCommands, blankroot runs after it (lib.mkAfter) and finds `zfs` through PATH.
# Archive mode (the module's default).
{ lib, helpers, ... }:
let
  zfs = import ./zfs-common.nix { inherit lib; };
in
{
  name = "blankroot-scripted-zfs";

  nodes.machine = {
    imports = [ zfs.base ];
    specialisation.scripted.configuration = {
      imports = [ zfs.fileSystems ];
      boot.initrd.systemd.enable = false;
    };
  };

  testScript = helpers + zfs.script + ''
    machine.start()
    machine.wait_for_unit("multi-user.target")
    machine.succeed(
        "parted --script /dev/vdb mklabel gpt",
        "parted --script /dev/vdb -- mkpart primary 1MiB -1s",
        "udevadm settle",
    )
    make_pool("/dev/vdb1")
    boot_into("scripted")

    assert "(initrd)" not in machine.succeed("systemd-analyze"), "booted with systemd in stage 1"
    assert_status("archived")
    assert_kernel_log_order("blankroot:", " on /...")

    for boot in ["one", "two"]:
        plant(boot, nested=False)
        reboot()
        assert_wiped(boot, nested=False)
        assert_status("archived")
        assert_kernel_log_order("blankroot:", " on /...")
  '';
}
