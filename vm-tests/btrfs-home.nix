# boot.blankroot.targets (issue 15): / and /home on one LUKS2 Btrfs ("enc"), each with its blank
# (root-blank, home-blank). Both are rolled back in the initrd, /home's unit after the root's and
# before sysroot.mount; over two boots a canary in each is erased, /persist kept, and the status
# has a record per target (archive mode: /home's old contents in old_home).
{ lib, helpers, ... }:
let
  disk = "/dev/disk/by-label/blankroot";
  subvol = name: extra: {
    device = disk;
    fsType = "btrfs";
    options = [ "subvol=${name}" ];
  } // extra;
in
{
  name = "blankroot-btrfs-home";

  nodes.machine = {
    specialisation.home.configuration = {
      boot.initrd.luks.devices = lib.mkVMOverride { enc.device = "/dev/vdb"; };
      virtualisation.fileSystems."/" = lib.mkForce (subvol "root" { });
      virtualisation.fileSystems."/persist" = subvol "persist" { neededForBoot = true; };
      virtualisation.fileSystems."/home" = subvol "home" { };
      boot.blankroot.enable = true;
      boot.blankroot.targets."/home" = { };
    };
  };

  testScript = helpers + ''
    machine.start()
    machine.wait_for_unit("multi-user.target")
    machine.succeed(
        f"echo -n {PASSPHRASE} | cryptsetup luksFormat -q --iter-time=1 /dev/vdb -",
        f"echo -n {PASSPHRASE} | cryptsetup luksOpen -q /dev/vdb enc",
    )
    make_btrfs("/dev/mapper/enc")
    top_level(
        "btrfs subvolume create /mnt/top/home && btrfs subvolume snapshot -r /mnt/top/home /mnt/top/home-blank",
        device="/dev/mapper/enc",
    )
    machine.succeed("cryptsetup luksClose enc")
    boot_into("home", prompt=LUKS_PROMPT)

    targets = [(t["mount_point"], t["stage"]) for t in config()["targets"]]
    assert targets == [("/", "initrd"), ("/home", "initrd")], targets
    assert_status("archived")
    target_status("/home", "archived")

    for boot in ["one", "two"]:
        plant(boot)
        plant_home(boot)
        reboot(prompt=LUKS_PROMPT)
        assert_wiped(boot)
        assert_home_wiped(boot)
        assert_status("archived")
        target_status("/home", "archived")
        assert_order(["systemd-cryptsetup@enc.service"])
        assert_before("blankroot.service", "blankroot-home.service")
        assert_before("blankroot-home.service", "sysroot.mount")

    with subtest("/home's old contents are in its own archives"):
        listing = json.loads(machine.succeed("blankroot archives /home --json"))
        assert len(listing["archives"]) >= 2, listing
        top_level("test -e /mnt/top/old_home && ! test -e /mnt/top/old_roots/home")
  '';
}
