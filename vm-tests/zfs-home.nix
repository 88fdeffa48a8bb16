# boot.blankroot.targets (issue 15) on ZFS: / (rpool/local/root) and /home (rpool/local/home), each
# rolled back to its @blank in the initrd after zfs-import-rpool.service (the pool / is on),
# /home's unit after the root's and before sysroot.mount; archive mode for /home (old contents in
# rpool/local/old_home). Two boots: canaries erased in both, /persist kept, a record per target.
{ lib, helpers, ... }:
let
  zfs = import ./zfs-common.nix { inherit lib; };
in
{
  name = "blankroot-zfs-home";

  nodes.machine = {
    imports = [ zfs.base ];
    specialisation.zfs.configuration = {
      imports = [ zfs.fileSystems ];
      virtualisation.fileSystems."/home" = {
        device = "rpool/local/home";
        fsType = "zfs";
      };
      boot.blankroot.archive.enable = false;
      boot.blankroot.targets."/home".archive.enable = true;
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
    machine.succeed(
        "zpool import -N rpool",
        "zfs create -p -o canmount=noauto -o mountpoint=legacy rpool/local/home",
        "zfs snapshot rpool/local/home@blank",
        "zfs create -p -o mountpoint=legacy rpool/local/old_home",
        "zpool export rpool",
    )
    boot_into("zfs")

    targets = [(t["mount_point"], t["stage"]) for t in config()["targets"]]
    assert targets == [("/", "initrd"), ("/home", "initrd")], targets
    assert "rpool/local/home on /home type zfs" in machine.succeed("mount")
    assert_status("rolled-back")
    target_status("/home", "archived")

    for boot in ["one", "two"]:
        plant(boot, nested=False)
        plant_home(boot)
        reboot()
        assert_wiped(boot, nested=False)
        assert_home_wiped(boot)
        assert_status("rolled-back")
        target_status("/home", "archived")
        assert_order(["zfs-import-rpool.service"])
        assert_before("zfs-import-rpool.service", "blankroot-home.service")
        assert_before("blankroot-home.service", "sysroot.mount")

    with subtest("/home's old contents are archived in its own dataset"):
        out = machine.succeed("zfs list -H -o name -r rpool/local/old_home")
        assert len(out.split()) >= 2, out
  '';
}
