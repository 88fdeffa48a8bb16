# The testScripts of the VM tests, as the test driver will see them, for linting here (the
# nixpkgs driver runs pyflakes on them before booting anything).
{ lib }:
let
  helpers = builtins.readFile ../../vm-tests/helpers.py;
  names = [
    "btrfs"
    "btrfs-luks"
    "btrfs-archive"
    "btrfs-missing-blank"
    "zfs"
    "zfs-luks"
    "scripted-btrfs"
    "scripted-zfs"
  ];
in
lib.genAttrs names (name: (import (../../vm-tests + "/${name}.nix") { inherit lib helpers; }).testScript)
