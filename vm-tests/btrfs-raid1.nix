# A two-device Btrfs RAID1 root (nixpkgs' systemd-initrd-btrfs-raid, raid1 instead of raid0;
# issue 12), then the same root with one device gone for good, mounted `degraded`. The module
# passes the root's device= and degraded options to the top-level mount (--mount-options): without
# them the rollback of the degraded root would fail before sysroot.mount would have worked.
{ lib, helpers, ... }:
let
  fs = subvol: options: {
    device = "/dev/vdb";
    fsType = "btrfs";
    options = [ "subvol=${subvol}" ] ++ options;
  };
  layout = options: {
    virtualisation.fileSystems."/" = lib.mkForce (fs "root" options);
    virtualisation.fileSystems."/persist" = fs "persist" options // { neededForBoot = true; };
    boot.blankroot.enable = true;
  };
in
{
  name = "blankroot-btrfs-raid1";

  nodes.machine = {
    virtualisation.emptyDiskImages = lib.mkForce [
      2048
      2048
    ];
    specialisation.raid1.configuration = layout [
      "device=/dev/vdb"
      "device=/dev/vdc"
    ];
    specialisation.degraded.configuration = {
      imports = [
        (layout [
          "device=/dev/vdb"
          "degraded"
        ])
      ];
      # With a member missing, systemd's 64-btrfs.rules, where the initrd has it, keeps the present
      # member unready (`btrfs ready` says the filesystem is incomplete) and its device unit never
      # starts: a degraded boot needs it marked ready (99-local.rules, after 64-btrfs.rules).
      boot.initrd.services.udev.rules = ''
        SUBSYSTEM=="block", KERNEL=="vdb", ENV{ID_FS_TYPE}=="btrfs", ENV{SYSTEMD_READY}="1"
      '';
    };
  };

  testScript = helpers + ''
    def mount_options() -> str:
        args = config()["args"]
        return args[args.index("--mount-options") + 1]

    machine.start()
    machine.wait_for_unit("multi-user.target")
    make_btrfs("/dev/vdb", mkfs="-d raid1 -m raid1 /dev/vdc")

    with subtest("RAID1, both devices"):
        boot_into("raid1")
        assert "Total devices 2" in machine.succeed("btrfs filesystem show /")
        assert mount_options() == "device=/dev/vdb,device=/dev/vdc", config()
        assert_status("archived")
        assert_order([])
        plant("one")
        reboot()
        assert_wiped("one")
        assert_status("archived")
        plant("two")

    with subtest("/dev/vdc gone: the degraded root rolls back"):
        # In the plain VM (nothing of the filesystem mounted) /dev/vdc loses its btrfs signature.
        machine.succeed(f"bootctl set-oneshot {boot_entry(generation=1)['id']}", "sync")
        reboot()
        machine.succeed("wipefs -a /dev/vdc", "sync")
        boot_into("degraded")
        assert "missing" in machine.succeed("btrfs filesystem show /").lower()
        assert mount_options() == "device=/dev/vdb,degraded", config()
        assert_wiped("two")
        assert_status("archived")
        assert_order([])
        plant("three")
        reboot()
        assert_wiped("three")
        assert_status("archived")
        machine.succeed("test $(wc -l < /persist/kept) -eq 3")
  '';
}
