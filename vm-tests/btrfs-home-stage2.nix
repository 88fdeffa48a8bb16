# boot.blankroot.targets (issue 15): /home on a second LUKS2 device ("crypthome", /dev/vdc) that only
# the booted system opens (crypttab, not boot.initrd.luks), unlocked by a key file on /persist.
# Its rollback runs in stage 2 (blankroot-home.service, --before-mount) after
# systemd-cryptsetup@crypthome.service and before home.mount; / is rolled back in the initrd as
# always. Two boots: canaries erased in both, /persist kept, a record per target.
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
  name = "blankroot-btrfs-home-stage2";

  nodes.machine = {
    virtualisation.emptyDiskImages = lib.mkForce [
      4096
      512
    ];
    specialisation.home.configuration = {
      imports = [ ./btrfs-layout.nix ];
      environment.etc.crypttab.text = ''
        crypthome /dev/vdc /persist/home.key luks
      '';
      virtualisation.fileSystems."/home" = {
        device = "/dev/mapper/crypthome";
        fsType = "btrfs";
        options = [ "subvol=home" ];
      };
      boot.blankroot.enable = true;
      boot.blankroot.targets."/home" = { };
    };
  };

  testScript = helpers + ''
    machine.start()
    machine.wait_for_unit("multi-user.target")
    make_btrfs("/dev/vdb")
    top_level("head -c 64 /dev/urandom > /mnt/top/persist/home.key && chmod 0400 /mnt/top/persist/home.key && cp /mnt/top/persist/home.key /tmp/home.key", device="/dev/vdb")
    machine.succeed(
        "cryptsetup luksFormat -q --iter-time=1 /dev/vdc /tmp/home.key",
        "cryptsetup luksOpen -q --key-file /tmp/home.key /dev/vdc crypthome",
        "mkfs.btrfs -q -f /dev/mapper/crypthome",
        "mkdir -p /mnt/home && mount -o subvolid=5 /dev/mapper/crypthome /mnt/home",
        "btrfs subvolume create /mnt/home/home",
        "btrfs subvolume snapshot -r /mnt/home/home /mnt/home/home-blank",
        "umount /mnt/home && cryptsetup luksClose crypthome",
    )
    boot_into("home")

    targets = [(t["mount_point"], t["stage"]) for t in config()["targets"]]
    assert targets == [("/", "initrd"), ("/home", "booted")], targets
    assert_status("archived")
    target_status("/home", "archived")

    for boot in ["one", "two"]:
        plant(boot)
        plant_home(boot)
        reboot()
        assert_wiped(boot)
        assert_home_wiped(boot)
        assert_status("archived")
        target_status("/home", "archived")
        assert_before("systemd-cryptsetup@crypthome.service", "blankroot-home.service")
        assert_before("blankroot-home.service", "home.mount")
        machine.succeed("systemctl is-active blankroot-home.service home.mount")
  '';
}
