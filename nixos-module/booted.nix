# The booted system: blankroot on PATH, the status check early in boot, the configuration the
# `diff`/`check` commands read, and `blankroot check` before a switch.
#
# system.preSwitchChecks: nixos/modules/system/activation/pre-switch-check.nix (attrsOf str; each
# fragment gets the new toplevel as $1 and the action as $2, runs under writeShellApplication,
# i.e. shellcheck + errexit/nounset). switch-to-configuration runs the checks for every action
# (switch, boot, test, dry-activate, check) unless NIXOS_NO_CHECK=1, also in nixos-install's
# `boot`, hence the action filter and the non-fatal default.
{
  config,
  lib,
  options,
  ...
}:
let
  cfg = config.boot.blankroot;
  h = import ./lib.nix {
    inherit lib;
    utils = { };
  };
  bin = "${cfg.package}/bin/blankroot";
  persisted =
    lib.optionals (options ? environment.persistence) (h.storePaths config.environment.persistence)
    ++ lib.optionals (options ? preservation.preserveAt) (h.storePaths config.preservation.preserveAt);
  check = ''
    # blankroot: will the next boot's rollback work? (boot.blankroot.preSwitchCheck)
    case "''${2-}" in
      switch | boot | check)
        if ! ${bin} check ${lib.escapeShellArgs cfg.rollbackArgs}; then
          echo "blankroot: the next boot's rollback would fail (see above); boot.blankroot.preSwitchCheck = ${cfg.preSwitchCheck}" >&2
          ${if cfg.preSwitchCheck == "enforce" then "exit 1" else "true"}
        fi
        ;;
    esac
  '';
in
{
  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        environment.systemPackages = [ cfg.package ];

        environment.etc."blankroot/config.json".text = builtins.toJSON {
          args = cfg.rollbackArgs;
          persisted = lib.unique persisted;
        };

        systemd.services.blankroot-status = lib.mkIf cfg.statusCheck {
          description = "Check that blankroot reset / during this boot";
          wantedBy = [ "sysinit.target" ];
          after = [ "systemd-journald.socket" ];
          before = [
            "sysinit.target"
            "shutdown.target"
          ];
          conflicts = [ "shutdown.target" ];
          unitConfig.DefaultDependencies = false;
          serviceConfig = {
            Type = "oneshot";
            RemainAfterExit = true;
            ExecStart = "${bin} status --check";
          };
        };
      }
      (lib.optionalAttrs (options ? system.preSwitchChecks) {
        system.preSwitchChecks.blankroot = lib.mkIf (cfg.preSwitchCheck != "off") check;
      })
    ]
  );
}
