# What the ZFS scenarios share: ZFS in the base system (to create the pool), the "ZFS Impermanence in a VM" (saylesss88, 2026) datasets,
# and the specialisation's filesystems. `zpool` commands run in the test script.
{ lib, ... }:
{
  base = {
    boot.supportedFilesystems = [ "zfs" ];
    networking.hostId = "deadbeef";
    # /dev/disk/by-id is not populated for virtio disks without a serial (nixpkgs' zfs test does the same).
    boot.zfs.devNodes = "/dev/disk/by-uuid";
    boot.zfs.forceImportRoot = false;
  };

  fileSystems = {
    virtualisation.fileSystems."/" = lib.mkForce {
      device = "rpool/local/root";
      fsType = "zfs";
    };
    virtualisation.fileSystems."/persist" = {
      device = "rpool/safe/persist";
      fsType = "zfs";
      neededForBoot = true;
    };
    boot.blankroot.enable = true;
  };

  # The datasets of "ZFS Impermanence in a VM" (saylesss88, 2026) on `vdev`; the pool is exported so the next boot imports it cleanly.
  # encrypted: the pool of "ZFS Impermanence in a VM" (saylesss88, 2026) (-O encryption=aes-256-gcm -O keyformat=passphrase
  # -O keylocation=prompt), every dataset under the pool's encryption root, the passphrase
  # (helpers.py PASSPHRASE) given on stdin as nixpkgs' zfs test does.
  script = ''
    def make_pool(vdev: str, encrypted: bool = False) -> None:
        key = f"echo -n {PASSPHRASE} | " if encrypted else ""
        crypt = "-O encryption=aes-256-gcm -O keyformat=passphrase -O keylocation=prompt " if encrypted else ""
        machine.succeed(
            f"{key}zpool create -f {crypt}-O mountpoint=none -O canmount=off -O acltype=posixacl -O xattr=sa rpool {vdev}",
            "zfs create -p -o canmount=noauto -o mountpoint=legacy rpool/local/root",
            "zfs snapshot rpool/local/root@blank",
            "zfs create -p -o mountpoint=legacy rpool/safe/persist",
            "mkdir -p /mnt/p && mount -t zfs rpool/safe/persist /mnt/p && touch /mnt/p/kept && umount /mnt/p",
            "zpool export rpool",
        )
  '';
}
