# The configurations of the seeds (what users run today), as module fragments for tests/nix/eval.nix.
let
  uuid = "/dev/disk/by-uuid/b79d3c8b-d511-4d66-a5e0-641a75440ada";
  sub = mountPoint: subvol: extra: {
    ${mountPoint} = {
      device = uuid;
      fsType = "btrfs";
      options = [ "subvol=${subvol}" ];
    } // extra;
  };
in
rec {
  inherit uuid;

  # 002: Btrfs on LUKS "enc", root by the filesystem's UUID (not /dev/mapper/enc), systemd stage 1.
  seed002 = {
    fileSystems =
      sub "/" "root" { }
      // sub "/home" "home" { }
      // sub "/nix" "nix" { }
      // sub "/persist" "persist" { neededForBoot = true; }
      // sub "/var/log" "log" { neededForBoot = true; }
      // {
        "/boot" = {
          device = "/dev/disk/by-uuid/FDED-3BCF";
          fsType = "vfat";
        };
      };
    boot.initrd.luks.devices.enc.device = "/dev/disk/by-uuid/82144284-cf1d-4d65-9999-2e7cdc3c75d4";
  };

  # 004: Btrfs on LUKS "cryptfs" opened as /dev/mapper/cryptfs; the root was recreated empty.
  seed004 = {
    fileSystems = {
      "/" = {
        device = "/dev/mapper/cryptfs";
        fsType = "btrfs";
        options = [ "subvol=root" "compress=zstd" "noatime" ];
      };
      "/persist" = {
        device = "/dev/mapper/cryptfs";
        fsType = "btrfs";
        options = [ "subvol=persist,compress=zstd" ];
        neededForBoot = true;
      };
      "/nix" = {
        device = "/dev/mapper/cryptfs";
        fsType = "btrfs";
        options = [ "subvol=nix" ];
      };
    };
    boot.initrd.luks.devices.cryptfs.device = "/dev/disk/by-uuid/0a3e5e53-0000-4000-8000-000000000004";
    boot.initrd.luks.devices.swap.device = "/dev/disk/by-uuid/0a3e5e53-0000-4000-8000-0000000000aa";
    boot.blankroot.blankSnapshot = null;
  };

  # The subvol=/@ layout (Ubuntu-style names, leading slashes), by UUID= tag.
  atLayout = {
    fileSystems = {
      "/" = {
        device = "UUID=5a5a5a5a-1111-2222-3333-444444444444";
        fsType = "btrfs";
        options = [ "subvol=/@" "compress=zstd" ];
      };
      "/home" = {
        device = "UUID=5a5a5a5a-1111-2222-3333-444444444444";
        fsType = "btrfs";
        options = [ "subvol=/@home" ];
      };
      "/persist" = {
        device = "UUID=5a5a5a5a-1111-2222-3333-444444444444";
        fsType = "btrfs";
        options = [ "subvol=/@persist/" ];
        neededForBoot = true;
      };
    };
  };

  zfsFileSystems = {
    "/" = {
      device = "rpool/local/root";
      fsType = "zfs";
    };
    "/nix" = {
      device = "rpool/local/nix";
      fsType = "zfs";
    };
    "/boot" = {
      device = "rpool/local/boot";
      fsType = "zfs";
    };
    "/boot/efi" = {
      device = "/dev/vda1";
      fsType = "vfat";
    };
    "/home" = {
      device = "rpool/safe/home";
      fsType = "zfs";
    };
    "/persist" = {
      device = "rpool/safe/persist";
      fsType = "zfs";
      neededForBoot = true;
    };
  };

  # 000: ZFS, no encryption (was postMountCommands: too late, after the root was mounted).
  seed000 = {
    fileSystems = zfsFileSystems;
  };

  # 001: ZFS on LUKS "cryptroot" (was postDeviceCommands: before the pool import since 24.11).
  seed001 = {
    fileSystems = zfsFileSystems;
    boot.initrd.luks.devices.cryptroot.device = "/dev/disk/by-uuid/11111111-2222-3333-4444-555555555555";
  };

  # 003: tmpfs root.
  seed003 = {
    fileSystems."/" = {
      device = "none";
      fsType = "tmpfs";
      options = [ "defaults" "size=25%" "mode=755" ];
    };
  };

  # A two-device Btrfs RAID1 root (nixpkgs' systemd-initrd-btrfs-raid layout, raid1 instead of
  # raid0): the members named with device=, compression beside them.
  raid1 = {
    fileSystems =
      let
        fs = subvol: {
          device = "/dev/vdb";
          fsType = "btrfs";
          options = [ "subvol=${subvol}" "device=/dev/vdb" "device=/dev/vdc" "compress=zstd" ];
        };
      in
      {
        "/" = fs "root";
        "/persist" = fs "persist" // { neededForBoot = true; };
      };
  };

  # The same root with /dev/vdc gone for good: mounted degraded (one comma-separated element,
  # as users write it too).
  raid1Degraded = {
    fileSystems."/" = {
      device = "/dev/vdb";
      fsType = "btrfs";
      options = [ "subvol=root,device=/dev/vdb,degraded" "noatime" ];
    };
  };

  # Key files named by sops-nix and agenix, and sshd's host keys (stand-ins of those options:
  # tests/nix/stubs.nix withSecrets).
  secrets = {
    services.openssh.enable = true;
    sops.age.keyFile = "/var/lib/sops-nix/key.txt";
    sops.age.sshKeyPaths = [ "/etc/ssh/ssh_host_ed25519_key" ];
    sops.gnupg.home = "/var/lib/sops/gnupg";
    age.identityPaths = [ "/persist/etc/ssh/ssh_host_ed25519_key" "/etc/age/identity" ];
  };

  # preservation, as its module evaluates it: absolute user paths (the module prepends the
  # home), `how`, and the "_intermediate" directories it only creates.
  preservation = {
    preservation.enable = true;
    preservation.preserveAt."/state" = {
      directories = [
        "/var/lib/foo"
        { directory = "/var/lib/bar"; how = "symlink"; }
        { directory = "/home/bob"; how = "_intermediate"; }
        { directory = "/home/bob/.ssh"; how = "bindmount"; mode = "0700"; }
      ];
      files = [
        { file = "/etc/machine-id"; inInitrd = true; how = "bindmount"; }
      ];
    };
  };

  # impermanence entries as its module evaluates them (dirPath/filePath absolute, each with its
  # persistentStoragePath) and a disabled location, which persists nothing.
  impermanenceEvaluated = {
    environment.persistence."/persist-b" = {
      directories = [
        {
          directory = "lib/x";
          dirPath = "/var/lib/x";
          persistentStoragePath = "/persist/elsewhere";
        }
      ];
    };
    environment.persistence."/old" = {
      enable = false;
      directories = [ "/var/lib/old" ];
    };
  };

  # seed 002's impermanence configuration.
  impermanence002 = {
    environment.persistence."/persist" = {
      directories = [
        "/etc/nixos"
        "/var/db/sudo"
        {
          directory = "/var/lib/bluetooth";
          mode = "0700";
        }
      ];
      files = [
        "/etc/machine-id"
        { file = "/etc/ssh/ssh_host_ed25519_key"; }
      ];
      users.alice = {
        home = "/home/alice";
        directories = [ "Documents" ];
      };
    };
  };
}
