# "Full Disk Encryption and Impermanence on NixOS" (2025): Btrfs inside LUKS "enc", root named by the filesystem (label), not /dev/mapper/enc,
# so the rollback waits for every LUKS device. Passphrase typed on the console at each boot.
# The module's defaults otherwise: archive mode (keep = 3, keepDays = 14).
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
  name = "blankroot-btrfs-luks";

  nodes.machine = {
    specialisation.luks.configuration = {
      # qemu-vm.nix empties boot.initrd.luks.devices with mkVMOverride; so must we.
      boot.initrd.luks.devices = lib.mkVMOverride { enc.device = "/dev/vdb"; };
      virtualisation.fileSystems."/" = lib.mkForce (subvol "root" { });
      virtualisation.fileSystems."/persist" = subvol "persist" { neededForBoot = true; };
      boot.blankroot.enable = true;
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
    machine.succeed("cryptsetup luksClose enc")
    boot_into("luks", prompt=LUKS_PROMPT)

    assert "/dev/mapper/enc on / type btrfs" in machine.succeed("mount")
    assert_status("archived")
    assert_order(["systemd-cryptsetup@enc.service"])

    for boot in ["one", "two"]:
        plant(boot)
        reboot(prompt=LUKS_PROMPT)
        assert_wiped(boot)
        assert_status("archived")
        assert_order(["systemd-cryptsetup@enc.service"])
  '';
}
