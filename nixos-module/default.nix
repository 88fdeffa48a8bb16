# The blankroot NixOS module: `imports = [ ./nixos-module ];` then `boot.blankroot.enable = true;`.
# It does not depend on the flake; the flake only sets boot.blankroot.package with lib.mkDefault.
{
  imports = [
    ./options.nix
    ./systemd-initrd.nix
    ./scripted.nix
    ./booted.nix
    ./targets.nix
    ./no-wipe.nix
  ];
}
