# The module evaluated inside real NixOS (nixpkgs' own option declarations, unit rendering and
# assertions), for `nix flake check`: seeds 002, 000 and 001 (scripted) build their toplevel
# derivations (every assertion holds), and seed 002's rendered blankroot.service carries exactly
# the dependency lines of vm-tests/golden/btrfs-luks.unit.
{
  nixpkgs,
  pkgs,
  module,
}:
let
  inherit (pkgs) lib;
  seeds = import ./seeds.nix;
  system =
    modules:
    (import "${nixpkgs}/nixos/lib/eval-config.nix" {
      system = null;
      modules = [
        module
        {
          nixpkgs.hostPlatform = pkgs.stdenv.hostPlatform;
          boot.loader.systemd-boot.enable = true;
          boot.blankroot.enable = true;
          system.stateVersion = lib.trivial.release;
        }
      ] ++ modules;
    }).config;
  zfsHost = {
    networking.hostId = "deadbeef";
    boot.zfs.forceImportRoot = false;
  };

  s002 = system [ seeds.seed002 ];
  s000 = system [ seeds.seed000 zfsHost ];
  s001scripted = system [
    seeds.seed001
    zfsHost
    { boot.initrd.systemd.enable = false; }
  ];

  unit = s002.boot.initrd.systemd.units."blankroot.service";
  text = lib.replaceStrings [ "${s002.boot.blankroot.package}" ] [ "@blankroot@" ] unit.text;
  golden = lib.splitString "\n" (builtins.readFile ../../vm-tests/golden/btrfs-luks.unit);
  directive = l: builtins.match "([A-Za-z]+)=(.*)" l;
  installKeys = [ "WantedBy" "RequiredBy" ];
  # Every [Unit]/[Service] line of the golden file appears verbatim in the real unit.
  missing = lib.filter (
    l:
    let
      d = directive l;
    in
    d != null && !(lib.elem (lib.head d) installKeys) && !(lib.hasInfix "\n${l}\n" "\n${text}\n")
  ) golden;
  install = k: lib.concatLists (map (l: let d = directive l; in lib.optionals (d != null && lib.head d == k) (lib.splitString " " (lib.last d))) golden);
in
assert lib.assertMsg (missing == [ ]) "the real blankroot.service lacks: ${builtins.toJSON missing}\n${text}";
assert lib.assertMsg (unit.wantedBy == install "WantedBy" && unit.requiredBy == install "RequiredBy")
  "wantedBy/requiredBy ${builtins.toJSON [ unit.wantedBy unit.requiredBy ]} differ from the golden file";
assert lib.assertMsg (lib.hasInfix "blankroot rollback" s001scripted.boot.initrd.postResumeCommands) "no scripted rollback";
pkgs.runCommand "blankroot-nixos-eval"
  {
    # Instantiating the toplevels checks every assertion (and shows the warnings).
    toplevels = map (c: builtins.unsafeDiscardStringContext c.system.build.toplevel.drvPath) [ s002 s000 s001scripted ];
    passAsFile = [ "unitText" ];
    unitText = text;
  }
  ''
    cp "$unitTextPath" $out
  ''
