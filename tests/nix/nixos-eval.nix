# The module evaluated inside real NixOS (nixpkgs' own option declarations, unit rendering and
# assertions), for `nix flake check`: the layouts of the blog posts (tests/nix/seeds.nix; the ZFS
# ones scripted too) and the 2025 FDE post's with the
# no-wipe entry instantiate their toplevel derivations (every assertion holds, the
# specialisation's too), the rendered blankroot.service of "Full Disk Encryption and Impermanence on NixOS" (2025) is exactly
# vm-tests/golden/btrfs-luks.unit (store paths replaced by its placeholders), the no-wipe
# specialisation has no rollback and no status check, and blankroot-status.service is ordered
# before boot-complete.target and, with systemd-boot's boot counting (where this nixpkgs has
# it), required by it.
{
  nixpkgs,
  pkgs,
  module,
}:
let
  inherit (pkgs) lib;
  seeds = import ./seeds.nix;
  system = modules: (evalSystem modules).config;
  evalSystem =
    modules:
    import "${nixpkgs}/nixos/lib/eval-config.nix" {
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
    };
  zfsHost = {
    networking.hostId = "deadbeef";
    boot.zfs.forceImportRoot = false;
  };

  s002 = system [ seeds.seed002 ];
  s002noWipe = system [
    seeds.seed002
    { boot.blankroot.noWipeEntry.enable = true; }
  ];
  noWipe = s002noWipe.specialisation.no-wipe.configuration;
  hasCounting = (evalSystem [ ]).options ? boot.loader.systemd-boot.bootCounting.enable;
  s002counting = system [
    seeds.seed002
    { boot.loader.systemd-boot.bootCounting.enable = true; }
  ];
  s000 = system [ seeds.seed000 zfsHost ];
  s001scripted = system [
    seeds.seed001
    zfsHost
    { boot.initrd.systemd.enable = false; }
  ];

  unit = s002.boot.initrd.systemd.units."blankroot.service";
  # The placeholders of the golden file: the package, and the store paths of the stage-2
  # systemd.globalEnvironment that NixOS writes into initrd units too (i18n.nix, locale.nix).
  text = lib.replaceStrings [
    "${s002.boot.blankroot.package}"
    "${s002.i18n.glibcLocales}"
    "${s002._module.args.pkgs.tzdata}"
  ] [ "@blankroot@" "@glibcLocales@" "@tzdata@" ] unit.text;
  # The golden file without its leading comment lines.
  dropComments = ls: if ls != [ ] && lib.hasPrefix "#" (lib.head ls) then dropComments (lib.tail ls) else ls;
  golden = lib.concatStringsSep "\n" (
    dropComments (lib.splitString "\n" (builtins.readFile ../../vm-tests/golden/btrfs-luks.unit))
  );
in
assert lib.assertMsg (text == golden) "the real blankroot.service differs from vm-tests/golden/btrfs-luks.unit:\n${text}";
# requiredBy makes .requires links only: not in the text (onFailure = "continue" wants only).
assert lib.assertMsg (unit.requiredBy == [ ]) "requiredBy ${builtins.toJSON unit.requiredBy}, want [ ] for onFailure = continue";
assert lib.assertMsg (lib.hasInfix "blankroot rollback" s001scripted.boot.initrd.postResumeCommands) "no scripted rollback";
assert lib.assertMsg (
  !(noWipe.boot.initrd.systemd.services ? blankroot) && !(noWipe.systemd.services ? blankroot-status)
) "the no-wipe specialisation still rolls back or checks the status";
assert lib.assertMsg (lib.elem "no-wipe" noWipe.system.nixos.tags) "the no-wipe specialisation is not tagged";
assert lib.assertMsg (lib.elem "boot-complete.target" s002.systemd.services.blankroot-status.before) "blankroot-status.service is not before boot-complete.target";
assert lib.assertMsg (s002.systemd.services.blankroot-status.requiredBy == [ ]) "blankroot-status.service required by something without boot counting";
assert lib.assertMsg (
  hasCounting -> s002counting.systemd.services.blankroot-status.requiredBy == [ "boot-complete.target" ]
) "with boot counting blankroot-status.service is not required by boot-complete.target";
pkgs.runCommand "blankroot-nixos-eval"
  {
    # Instantiating the toplevels checks every assertion (and shows the warnings).
    toplevels = map (c: builtins.unsafeDiscardStringContext c.system.build.toplevel.drvPath) [
      s002
      s000
      s001scripted
      s002noWipe
    ];
    passAsFile = [ "unitText" ];
    unitText = text;
  }
  ''
    cp "$unitTextPath" $out
  ''
