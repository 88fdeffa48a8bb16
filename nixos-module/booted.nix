# The booted system: blankroot on PATH, the status check early in boot, the configuration the
# `diff`/`check`/`archives`/`restore`/`skip-next-boot` commands read, and `blankroot check`
# before a switch.
#
# system.preSwitchChecks: nixos/modules/system/activation/pre-switch-check.nix (attrsOf str; the
# fragments run under writeShellApplication, i.e. shellcheck + errexit/nounset). The script is
# the one of the configuration being switched to (switchable-system.nix wraps its
# switch-to-configuration with PRE_SWITCH_CHECK = that configuration's preSwitchChecksScript),
# and switch-to-configuration-ng's do_pre_switch_check runs it with the new toplevel as $1 and the
# action as $2, for every action (switch, boot, test, dry-activate, check) unless NIXOS_NO_CHECK=1,
# also in nixos-install's `boot`: hence the action filter and the non-fatal default.
# toplevel/etc is a link to the new system's etc (top-level.nix), so
# "$1/etc/blankroot/config.json" is the configuration the next boot uses.
#
# The key files come from modules that may not be imported: every option is tested with
# `options ? ...` first (sops-nix modules/sops: age.keyFile, age.sshKeyPaths, gnupg.home,
# gnupg.sshKeyPaths; agenix modules/age.nix: identityPaths; impermanence nixos.nix:
# environment.persistence; preservation options.nix: preservation.{enable,preserveAt}).
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

  impermanence = lib.optionalAttrs (options ? environment.persistence) config.environment.persistence;
  preservation = lib.optionalAttrs (
    options ? preservation.preserveAt && (config.preservation.enable or true)
  ) config.preservation.preserveAt;
  entries = h.storeEntries impermanence ++ h.storeEntries preservation;
  # The stores themselves: impermanence's persistentStoragePath (the attribute names),
  # preservation's preserveAt.<path>.
  storeRoots = stores: lib.mapAttrsToList (name: st: toString (st.persistentStoragePath or name)) (lib.filterAttrs (_: st: st.enable or true) stores);
  persistDir =
    let
      first = h.firstStore impermanence;
    in
    if first != null then first else h.firstStore preservation;

  # impermanence #231: a persistent store that lies on a wiped filesystem (the deepest mount
  # containing it is / or a target) is erased with it at every boot.
  wiped = [ "/" ] ++ map (t: t.mountPoint) (lib.attrValues cfg.targets);
  mountPoints = map (fs: fs.mountPoint) (lib.attrValues config.fileSystems);
  under = outer: p: outer == "/" || p == outer || lib.hasPrefix "${outer}/" p;
  mountOf = p: lib.foldl' (best: m: if under m p && lib.stringLength m > lib.stringLength best then m else best) "/" mountPoints;
  storeTraps = lib.filter (s: lib.elem (mountOf s) wiped) (lib.unique (storeRoots impermanence ++ storeRoots preservation));

  # Key files the configuration names, where the option exists and is set.
  set = v: v != null && v != "";
  opt = path: lib.attrByPath path null config;
  optList = path: lib.optionals (lib.hasAttrByPath path options) (lib.filter set (opt path));
  optOne = path: lib.optional (lib.hasAttrByPath path options && set (opt path)) (opt path);
  mustPersist = lib.unique (
    lib.filter (p: lib.hasPrefix "/" p) (
      map toString (
        lib.optionals (options ? services.openssh.hostKeys && (config.services.openssh.enable or false)) (
          map (k: k.path) config.services.openssh.hostKeys
        )
        ++ optOne [ "sops" "age" "keyFile" ]
        ++ optList [ "sops" "age" "sshKeyPaths" ]
        ++ optOne [ "sops" "gnupg" "home" ]
        ++ optList [ "sops" "gnupg" "sshKeyPaths" ]
        ++ optList [ "age" "identityPaths" ]
      )
    )
  );

  check = ''
    # blankroot: will the next boot's rollback work, and does the configuration being switched to
    # lose nothing that must persist? (boot.blankroot.preSwitchCheck)
    case "''${2-}" in
      switch | boot | check)
        new_config="''${1-}/etc/blankroot/config.json"
        if [ ! -f "$new_config" ]; then
          echo "blankroot: $new_config does not exist: cannot check the configuration being switched to; boot.blankroot.preSwitchCheck = ${cfg.preSwitchCheck}" >&2
          ${if cfg.preSwitchCheck == "enforce" then "exit 1" else "true"}
        elif ! ${bin} check --config "$new_config"${lib.optionalString (cfg.preSwitchCheck == "enforce") " --strict"}; then
          echo "blankroot: the next boot would fail to roll back or lose something (see above); boot.blankroot.preSwitchCheck = ${cfg.preSwitchCheck}" >&2
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

        assertions = map (s: {
          assertion = false;
          message = "boot.blankroot: the persistent store ${s} lies on ${mountOf s}, which is wiped at every boot: what it keeps would be erased with it (impermanence #231). Put the store on a filesystem of its own that is not wiped (fileSystems.\"${s}\" on its own subvolume or dataset, neededForBoot = true), or move it outside ${mountOf s}.";
        }) storeTraps;

        # The members src/config.rs reads.
        environment.etc."blankroot/config.json".text = builtins.toJSON {
          args = cfg.rollbackArgs;
          persisted = lib.unique (map (e: e.path) entries);
          persist_dir = persistDir;
          persistence = entries;
          must_persist = mustPersist;
          # Every wiped filesystem, the root first (boot.blankroot.targets).
          targets = [
            {
              mount_point = "/";
              args = cfg.rollbackArgs;
              stage = "initrd";
            }
          ] ++ map (t: {
            mount_point = t.mountPoint;
            args = t.rollbackArgs;
            inherit (t) stage;
          }) (lib.attrValues cfg.targets);
          # Every fileSystems entry, for the checks that a wiped target takes nothing another
          # mount or a persistent store needs (impermanence #231).
          mounts = map (fs: {
            mount_point = fs.mountPoint;
            fs_type = fs.fsType or null;
            device = if (fs.fsType or "") == "zfs" then null else h.devicePath (fs.device or null);
            subvolume = if (fs.fsType or "") == "btrfs" then h.subvolOf fs else null;
            dataset = if (fs.fsType or "") == "zfs" then fs.device or null else null;
            needed_for_boot = h.neededForBoot fs;
          }) (lib.attrValues config.fileSystems);
          stores = lib.unique (storeRoots impermanence ++ storeRoots preservation);
        };

        # Before boot-complete.target always (harmless without boot counting) and, with
        # bootAssessment, required by it: systemd's systemd-boot-check-no-failures.service
        # (Before=boot-complete.target, [Install] RequiredBy=boot-complete.target) is the pattern.
        systemd.services.blankroot-status = lib.mkIf cfg.statusCheck {
          description = "Check that blankroot reset / during this boot";
          wantedBy = [ "sysinit.target" ];
          requiredBy = lib.optionals cfg.bootAssessment [ "boot-complete.target" ];
          after = [ "systemd-journald.socket" ];
          before = [
            "sysinit.target"
            "boot-complete.target"
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
      (lib.mkIf cfg.metrics.enable {
        # The status as node-exporter textfile metrics (src/metrics.rs). Ordered after the status
        # check, never requiring it: a boot whose rollback failed is what the metrics must show.
        systemd.services.blankroot-metrics = {
          description = "Write blankroot's status as metrics for node-exporter";
          wantedBy = [ "multi-user.target" ];
          after = [
            "blankroot-status.service"
            "local-fs.target"
          ];
          startAt = lib.optional (cfg.metrics.interval != null) cfg.metrics.interval;
          serviceConfig = {
            Type = "oneshot";
            # `check` exits 1 when it finds something: that is a metric, not a failure.
            ExecStartPre = lib.optional cfg.metrics.check "-${bin} check --record /run/blankroot/check.json";
            ExecStart = "${bin} status --format prometheus --output ${cfg.metrics.directory}/blankroot.prom";
          };
        };
      })
      (lib.optionalAttrs (options ? system.preSwitchChecks) {
        system.preSwitchChecks.blankroot = lib.mkIf (cfg.preSwitchCheck != "off") check;
      })
    ]
  );
}
