# The NixOS VM tests (vm-tests/NAME.nix): flake.nix's checks.<system>.vm-NAME, and
# tests/nix/vm-scripts.nix lints their scripts.
[
  "btrfs"
  "btrfs-luks"
  "btrfs-archive"
  "btrfs-archive-default"
  "btrfs-missing-blank"
  "btrfs-skip-next-boot"
  "btrfs-no-wipe"
  "btrfs-switch"
  "btrfs-boot-counting"
  "btrfs-metrics"
  "btrfs-home"
  "btrfs-home-stage2"
  "btrfs-raid1"
  "zfs"
  "zfs-luks"
  "zfs-encrypted"
  "zfs-home"
  "scripted-btrfs"
  "scripted-zfs"
]
