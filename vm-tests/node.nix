# The machine every scenario starts from: an ordinary VM (ext4 root on /dev/vda, booted by
# systemd-boot) with a spare disk /dev/vdb. The test formats /dev/vdb, then boots a
# specialisation whose / lives there, with boot.blankroot enabled.
#
# Patterns from nixpkgs' own stage-1 tests (systemd-initrd-btrfs-raid, systemd-initrd-luks-password,
# zfs): useBootLoader + useEFIBoot, `bootctl set-default` a specialisation, crash and start.
# mountHostNixStore: the store comes from the host, so wiping / keeps it.
{ lib, pkgs, ... }:
{
  virtualisation = {
    useBootLoader = true;
    useEFIBoot = true;
    mountHostNixStore = true;
    emptyDiskImages = [ 4096 ];
    memorySize = 2048;
    cores = 2;
  };
  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;
  boot.loader.timeout = 0;

  boot.initrd.systemd.enable = lib.mkDefault true;
  boot.initrd.systemd.emergencyAccess = true;
  boot.kernelParams = [ "systemd.show_status=true" ];

  environment.systemPackages = with pkgs; [
    btrfs-progs
    cryptsetup
    parted
  ];

  # Only the specialisations roll back; the first boot prepares the disk.
  boot.blankroot.enable = lib.mkDefault false;
}
