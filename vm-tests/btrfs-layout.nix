# The Btrfs layout the VM tests format (helpers.py make_btrfs): / is the `root` subvolume,
# /persist the `persist` subvolume (needed for boot), both on the disk labelled `blankroot`.
{ lib, ... }:
{
  virtualisation.fileSystems."/" = lib.mkForce {
    device = "/dev/disk/by-label/blankroot";
    fsType = "btrfs";
    options = [ "subvol=root" ];
  };
  virtualisation.fileSystems."/persist" = {
    device = "/dev/disk/by-label/blankroot";
    fsType = "btrfs";
    options = [ "subvol=persist" ];
    neededForBoot = true;
  };
}
