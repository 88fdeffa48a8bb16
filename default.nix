# For users without flakes (there is no public repository yet: import your checkout):
#   let blankroot = import /path/to/blankroot { };
#   in { imports = [ blankroot.nixosModules.default ]; boot.blankroot.enable = true; }
# The module takes the package from pkgs.blankroot if an overlay provides it, else builds ./package.nix
# with the system's nixpkgs.
{
  pkgs ? import <nixpkgs> { },
}:
{
  package = pkgs.callPackage ./package.nix { };
  nixosModules.default = ./nixos-module;
  overlays.default = final: _prev: { blankroot = final.callPackage ./package.nix { }; };
}
