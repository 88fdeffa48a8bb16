# ZFS root (the datasets of "ZFS Impermanence in a VM" (saylesss88, 2026)), systemd stage 1, delete mode (archive.enable = false):
# `zfs rollback -r rpool/local/root@blank` after zfs-import-rpool.service, before sysroot.mount. (ZFS has no nested subvolumes to check: child
# datasets are separate filesystems that a rollback leaves alone.)
{ lib, helpers, ... }:
let
  zfs = import ./zfs-common.nix { inherit lib; };
in
{
  name = "blankroot-zfs";

  nodes.machine = {
    imports = [ zfs.base ];
    specialisation.zfs.configuration = {
      imports = [ zfs.fileSystems ];
      boot.blankroot.archive.enable = false;
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
    boot_into("zfs")

    assert "rpool/local/root on / type zfs" in machine.succeed("mount")
    assert_status("rolled-back")
    assert_order(["zfs-import-rpool.service"])

    for boot in ["one", "two"]:
        plant(boot, nested=False)
        reboot()
        assert_wiped(boot, nested=False)
        assert_status("rolled-back")
        assert_order(["zfs-import-rpool.service"])
  '';
}
