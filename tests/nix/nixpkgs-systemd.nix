# nixpkgs' own systemd code, evaluated with nothing but nixpkgs' lib: utils.escapeSystemdPath and
# escapeSystemdExecArgs (nixos/lib/utils.nix), the option type of boot.initrd.systemd.services
# (nixos/lib/systemd-types.nix initrdServices) and the unit text NixOS writes for a service
# (nixos/lib/systemd-lib.nix serviceToUnit, as nixos/modules/system/boot/systemd/initrd.nix calls
# it). tests/nix/eval.nix renders the golden unit with it and checks that its own renderer and the
# stand-ins of systemd-escape.nix agree.
#
#   nixos: a nixpkgs checkout, or any directory holding its
#          nixos/lib/{utils,systemd-lib,systemd-unit-options,systemd-types}.nix
#   globalEnvironment: the stage-2 systemd.globalEnvironment. serviceToUnit writes it into every
#          service, initrd services included (systemd-lib.nix reads config.systemd).
{
  lib,
  nixos,
  globalEnvironment,
}:
let
  # Everything systemd-lib.nix reads from the NixOS configuration for a service's unit text.
  # (generateUnits and stage-2 services read more; nothing here calls them.)
  config.systemd = {
    inherit globalEnvironment;
    # nixpkgs' default (nixos/modules/system/boot/systemd.nix); it only matters for `script`.
    enableStrictShellChecks = false;
  };
  # pkgs is reached only for what a blankroot unit does not use (job scripts for `script`,
  # `path`, restart-trigger files, unit derivations): any use fails loudly instead of guessing.
  pkgs = throw "tests/nix/nixpkgs-systemd.nix: nixpkgs' systemd code reached for pkgs, which is not available here (only nixpkgs' lib is)";

  utils = import (nixos + "/nixos/lib/utils.nix") { inherit lib config pkgs; };
  inherit (utils) systemdUtils;

  # systemd-lib.nix sets enableStrictShellChecks on every service; a systemd-unit-options.nix
  # older than it does not declare the option. Declare it then (nothing else is added).
  declares =
    name:
    (lib.evalModules {
      modules = [
        systemdUtils.unitOptions.stage1ServiceOptions
        { _module.args.name = "probe"; }
      ];
    }).options ? ${name};
in
{
  inherit utils;

  # The type of boot.initrd.systemd.services, and further declarations of the same option for
  # stubs.nix (the module system merges them into the one submodule).
  initrdServices = systemdUtils.types.initrdServices;
  initrdServicesExtra = lib.optional (!declares "enableStrictShellChecks") (
    lib.types.attrsOf (
      lib.types.submodule {
        options.enableStrictShellChecks = lib.mkOption {
          type = lib.types.bool;
          description = "Declared by tests/nix/nixpkgs-systemd.nix for an older systemd-unit-options.nix.";
        };
      }
    )
  );

  # The text of <name>.service in the initrd's /etc/systemd/system, for one evaluated
  # boot.initrd.systemd.services.<name>.
  unitText = service: (systemdUtils.lib.serviceToUnit service).text;
}
