# boot.blankroot.targets: more filesystems than / wiped at every boot (`targets."/home" = { };`),
# each derived from its fileSystems entry as / is from fileSystems."/", with the root's per-target
# options, and each rolled back before its own mount:
# - in the initrd (blankroot-<path>.service, after blankroot.service, before sysroot.mount and the
#   target's sysroot-<path>.mount) when the initrd opens its device: the root's device or pool, a
#   boot.initrd.luks device, or neededForBoot;
# - else in the booted system (systemd.services.blankroot-<path>, `rollback --before-mount`),
#   after its device (crypttab's systemd-cryptsetup@<name>.service, or zfs-import-<pool>.service)
#   and before <path>.mount, which requires or wants it as onFailure says.
# Unit names: systemd-cryptsetup@ (luksroot.nix and systemd's crypttab generator),
# zfs-import-<pool>.service (tasks/filesystems/zfs.nix), <escaped path>.mount (fstab generator;
# utils.escapeSystemdPath as nixpkgs derives them).
{
  config,
  lib,
  utils,
  ...
}:
let
  inherit (lib) mkOption types literalMD;
  cfg = config.boot.blankroot;
  h = import ./lib.nix { inherit lib utils; };
  bin = "${cfg.package}/bin/blankroot";
  rootDevices = h.rootDevices {
    inherit (config) fileSystems;
    inherit (cfg) device;
  };
  rootPool = h.poolOf cfg.dataset;
  initrdLuks = config.boot.initrd.luks.devices or { };
  fsAt = mp: lib.findFirst (fs: fs.mountPoint == mp) null (lib.attrValues config.fileSystems);
  isName = s: s != null && s != "" && !(lib.hasPrefix "/" s) && !(lib.elem ".." (lib.splitString "/" s));

  target =
    { name, config, ... }:
    let
      t = config;
      fs = fsAt t.mountPoint;
      fsType = if fs == null then null else fs.fsType or null;
      btrfs = t.fileSystem == "btrfs";
      zfs = t.fileSystem == "zfs";
      mapped =
        if t.device != null && lib.hasPrefix "/dev/mapper/" t.device then
          lib.removePrefix "/dev/mapper/" t.device
        else
          null;
      onRootDevice = btrfs && cfg.fileSystem == "btrfs" && lib.elem t.device rootDevices;
      inRootPool = zfs && cfg.fileSystem == "zfs" && h.poolOf t.dataset == rootPool;
    in
    {
      options = {
        mountPoint = mkOption {
          type = types.str;
          default = name;
          description = "Where the target is mounted; its `fileSystems` entry is the one with this mount point.";
        };
        fileSystem = mkOption {
          type = types.nullOr (types.enum [ "btrfs" "zfs" ]);
          default = if lib.elem fsType [ "btrfs" "zfs" ] then fsType else null;
          defaultText = literalMD "the entry's `fsType`, when it is btrfs or zfs";
          description = "Filesystem of the target.";
        };
        device = mkOption {
          type = types.nullOr types.str;
          default = if btrfs && fs != null then h.devicePath (fs.device or null) else null;
          defaultText = literalMD "the entry's `device` (Btrfs)";
          description = "Btrfs: the block device holding the target's subvolume.";
        };
        subvolume = mkOption {
          type = types.nullOr types.str;
          default = if btrfs && fs != null then h.subvolOf fs else null;
          defaultText = literalMD "the entry's `subvol=` option (Btrfs)";
          description = "Btrfs: the target's subvolume, relative to the top level.";
        };
        blankSnapshot = mkOption {
          type = types.nullOr types.str;
          default = "${if t.subvolume == null then "target" else t.subvolume}-blank";
          defaultText = literalMD ''`"<subvolume>-blank"`'';
          description = "Btrfs: the read-only snapshot the target is recreated from; `null`: an empty subvolume.";
        };
        dataset = mkOption {
          type = types.nullOr types.str;
          default = if zfs && fs != null then fs.device or null else null;
          defaultText = literalMD "the entry's `device` (ZFS)";
          description = "ZFS: the target's dataset.";
        };
        snapshot = mkOption {
          type = types.str;
          default = cfg.snapshot;
          defaultText = literalMD "`boot.blankroot.snapshot`";
          description = "ZFS: the snapshot of the dataset to roll back to.";
        };
        archive = {
          enable = mkOption {
            type = types.bool;
            default = cfg.archive.enable;
            defaultText = literalMD "`boot.blankroot.archive.enable`";
            description = "Keep the old contents in `archive.directory` instead of deleting them.";
          };
          directory = mkOption {
            type = types.str;
            default =
              let
                base = lib.replaceStrings [ "/" ] [ "_" ] (lib.removePrefix "/" t.mountPoint);
              in
              if zfs then
                "${if t.dataset == null then "rpool" else dirOf t.dataset}/old_${base}"
              else
                "old_${base}";
            defaultText = literalMD ''`"old_<mount point>"` (`/home`: `old_home`), beside the dataset for ZFS'';
            description = "Where old contents go: a directory relative to the Btrfs top level, or a ZFS dataset. Never the root's: each target's archives are its own.";
          };
          keep = mkOption {
            type = types.nullOr types.ints.positive;
            default = cfg.archive.keep;
            defaultText = literalMD "`boot.blankroot.archive.keep`";
            description = "Keep at most this many archives.";
          };
          keepDays = mkOption {
            type = types.nullOr types.ints.positive;
            default = cfg.archive.keepDays;
            defaultText = literalMD "`boot.blankroot.archive.keepDays`";
            description = "Delete archives older than this many days (the newest is always kept).";
          };
        };
        protect = mkOption {
          type = types.listOf types.str;
          default =
            if btrfs then
              lib.unique (
                lib.filter (s: s != null && s != t.subvolume) (
                  map h.subvolOf (
                    lib.filter (
                      o: o.mountPoint != t.mountPoint && h.sameBtrfs [ t.device ] o
                    ) (lib.attrValues config'.fileSystems)
                  )
                )
              )
            else
              [ ];
          defaultText = literalMD "the `subvol=` of every other `fileSystems` entry on the same device (the root's too)";
          description = "Btrfs: subvolumes that must survive; the rollback refuses to run if one lies inside the target.";
        };
        minFreeSpace = mkOption {
          type = types.nullOr types.str;
          default = cfg.minFreeSpace;
          defaultText = literalMD "`boot.blankroot.minFreeSpace`";
          description = "Btrfs: below this much free space the old contents are deleted instead of archived.";
        };
        mountOptions = mkOption {
          type = types.listOf types.str;
          default = if btrfs && fs != null then h.topMountOptions fs else [ ];
          defaultText = literalMD "the entry's `device=` and `degraded` options (Btrfs)";
          description = "Btrfs: options added to `subvolid=5` for the mount of the top level.";
        };
        luksDevices = mkOption {
          type = types.listOf types.str;
          default =
            if onRootDevice then
              cfg.luksDevices
            else if mapped != null then
              [ mapped ]
            else
              [ ];
          defaultText = literalMD "the root's when the target is on the root's device; `[ name ]` for `/dev/mapper/name`";
          description = "LUKS devices (by name) the rollback waits for: boot.initrd.luks ones in the initrd, crypttab ones in the booted system.";
        };
        stage = mkOption {
          type = types.enum [ "initrd" "booted" ];
          default =
            if onRootDevice || inRootPool || (fs != null && h.neededForBoot fs) || lib.any (n: initrdLuks ? ${n}) t.luksDevices then
              "initrd"
            else
              "booted";
          defaultText = literalMD "`initrd` when the initrd opens the device (the root's device or pool, a `boot.initrd.luks` device, `neededForBoot`), else `booted`";
          description = ''
            Where the target is rolled back: `initrd` (before sysroot.mount) or `booted` (a unit of
            the booted system before the target's `.mount`, for a device only stage 2 unlocks).
          '';
        };
        onFailure = mkOption {
          type = types.enum [ "continue" "stop" ];
          default = cfg.onFailure;
          defaultText = literalMD "`boot.blankroot.onFailure`";
          description = "`continue`: mount the target as it is; `stop`: its mount requires the rollback, so a failure leaves it unmounted.";
        };
        logLevel = mkOption {
          type = types.nullOr (types.enum [ "error" "warn" "info" "debug" ]);
          default = cfg.logLevel;
          defaultText = literalMD "`boot.blankroot.logLevel`";
          description = "Log level of the rollback.";
        };
        extraArgs = mkOption {
          type = types.listOf types.str;
          default = [ ];
          description = "Extra arguments for this target's `blankroot rollback`.";
        };
        rollbackArgs = mkOption {
          type = types.listOf types.str;
          internal = true;
          readOnly = true;
          default = [
            "--mount-point"
            t.mountPoint
          ] ++ h.rollbackArgs t;
          description = "The target's arguments after `blankroot rollback` (also in /etc/blankroot/config.json).";
        };
      };
    };
  # The whole configuration, for defaults that look at other entries.
  config' = config;

  targets = lib.attrValues cfg.targets;
  escaped = t: utils.escapeSystemdPath t.mountPoint;
  unitName = t: "blankroot-${escaped t}";
  statusFile = t: "/run/blankroot/status.${escaped t}.json";
  exec = flags: t: "${bin} rollback ${utils.escapeSystemdExecArgs (flags ++ t.rollbackArgs)}";
  deviceUnits = t: lib.optional (t.fileSystem == "btrfs" && lib.hasPrefix "/dev/" (toString t.device)) "${utils.escapeSystemdPath t.device}.device";
  importUnits = t: lib.optional (t.fileSystem == "zfs" && t.dataset != null) "zfs-import-${h.poolOf t.dataset}.service";
  cryptUnits = t: map (n: "systemd-cryptsetup@${utils.escapeSystemdPath n}.service") t.luksDevices;
  stop = t: t.onFailure == "stop";

  initrdUnit = t: {
    description = "Put ${t.mountPoint} back to a blank snapshot (blankroot)";
    unitConfig = {
      DefaultDependencies = false;
      ConditionPathExists = "!${statusFile t}";
    };
    requires = deviceUnits t ++ importUnits t;
    after =
      deviceUnits t
      ++ importUnits t
      ++ cryptUnits t
      ++ [
        # One target after the other: one lock and one top-level mount at a time.
        "blankroot.service"
        "local-fs-pre.target"
        "systemd-hibernate-resume.service"
        "systemd-modules-load.service"
      ];
    before = [ "sysroot.mount" ] ++ lib.optional (fsAt t.mountPoint != null && h.neededForBoot (fsAt t.mountPoint)) "${utils.escapeSystemdPath ("/sysroot" + t.mountPoint)}.mount" ++ [ "shutdown.target" ];
    conflicts = [ "shutdown.target" ];
    requiredBy = lib.optionals (stop t) [ "sysroot.mount" "initrd.target" ];
    wantedBy = lib.optionals (!stop t) [ "sysroot.mount" "initrd.target" ];
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
      ExecStart = exec [ ] t;
      TimeoutStartSec = "10min";
    };
  };

  bootedUnit = t: {
    description = "Put ${t.mountPoint} back to a blank snapshot before it is mounted (blankroot)";
    unitConfig.DefaultDependencies = false;
    requires = deviceUnits t ++ importUnits t;
    after = deviceUnits t ++ importUnits t ++ cryptUnits t;
    before = [
      "${escaped t}.mount"
      "local-fs.target"
      "shutdown.target"
    ];
    conflicts = [ "shutdown.target" ];
    requiredBy = lib.optional (stop t) "${escaped t}.mount";
    wantedBy = lib.optional (!stop t) "${escaped t}.mount";
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
      # The explicit flag: outside the initrd, and only while nothing of the target is mounted.
      ExecStart = exec [ "--before-mount" ] t;
      TimeoutStartSec = "10min";
    };
  };

  initrdTargets = lib.filter (t: t.stage == "initrd") targets;
  bootedTargets = lib.filter (t: t.stage == "booted") targets;
  systemdInitrd = config.boot.initrd.systemd.enable or false;

  # Pairs of distinct targets (the root included), for the overlap assertions.
  rootAsTarget = {
    mountPoint = "/";
    inherit (cfg) fileSystem device subvolume dataset;
  };
  all = [ rootAsTarget ] ++ targets;
  pairs = lib.concatMap (a: map (b: { inherit a b; }) (lib.filter (b: b.mountPoint > a.mountPoint) all)) all;
  same = a: b: a.fileSystem == b.fileSystem && (if a.fileSystem == "zfs" then a.dataset == b.dataset else a.device == b.device && a.subvolume == b.subvolume);
  under = outer: p: outer == "/" || p == outer || lib.hasPrefix "${outer}/" p;
  name = t: ''boot.blankroot.targets."${t.mountPoint}"'';
in
{
  options.boot.blankroot.targets = mkOption {
    type = types.attrsOf (types.submodule target);
    default = { };
    example = lib.literalExpression ''{ "/home" = { }; }'';
    description = ''
      More filesystems to wipe at every boot, by mount point, each derived from its `fileSystems`
      entry as / is (device, `subvol=` or dataset, options, LUKS device) and with the root's
      options per target. Rolled back in the initrd when the initrd opens the device, else in
      the booted system before the target is mounted. `/` itself is configured by the options
      above.
    '';
  };

  config = lib.mkIf (cfg.enable && cfg.targets != { }) {
    assertions =
      lib.concatMap (t: [
        {
          assertion = t.mountPoint != "/";
          message = ''boot.blankroot.targets."/": / is configured by boot.blankroot.* itself; remove the target.'';
        }
        {
          assertion = t.mountPoint == "/" || fsAt t.mountPoint != null;
          message = ''${name t}: there is no fileSystems entry mounted on ${t.mountPoint}; add fileSystems."${t.mountPoint}" (or remove the target).'';
        }
        {
          assertion = fsAt t.mountPoint == null || t.fileSystem != null;
          message = ''${name t}: fileSystems."${t.mountPoint}".fsType is "${toString ((fsAt t.mountPoint).fsType or "")}"; only btrfs and zfs targets can be rolled back (a tmpfs is empty at every boot already: remove the target).'';
        }
        {
          assertion = t.fileSystem == "btrfs" -> t.device != null && isName t.subvolume;
          message = ''${name t}: set its device and subvolume; add subvol=<name> to fileSystems."${t.mountPoint}".options (a target on the top-level subvolume cannot be rolled back).'';
        }
        {
          assertion = t.fileSystem == "btrfs" && t.blankSnapshot != null -> isName t.blankSnapshot && t.blankSnapshot != t.subvolume;
          message = "${name t}.blankSnapshot (${builtins.toJSON t.blankSnapshot}) must be a name relative to the top level and differ from its subvolume.";
        }
        {
          assertion = t.fileSystem == "zfs" -> t.dataset != null && lib.hasInfix "/" t.dataset;
          message = "${name t}: set its dataset (POOL/DATASET; got ${builtins.toJSON t.dataset}).";
        }
        {
          assertion = t.archive.enable -> t.archive.directory != cfg.archive.directory || !cfg.archive.enable;
          message = "${name t}.archive.directory is the root's (${cfg.archive.directory}); give each target its own.";
        }
      ]
      ++ map (o: {
        assertion = false;
        message = ''boot.blankroot: the subvolume of ${o.mountPoint} (${h.subvolOf o}) lies inside that of the target ${t.mountPoint} (${t.subvolume}) and would be erased with it; move it to its own top-level subvolume (or remove the target).'';
      }) (lib.filter (o: t.fileSystem == "btrfs" && t.subvolume != null && o.mountPoint != t.mountPoint && h.sameBtrfs [ t.device ] o && lib.hasPrefix "${t.subvolume}/" (toString (h.subvolOf o))) (lib.attrValues config.fileSystems))
      ) targets
      ++ lib.concatMap (p: [
        {
          assertion = !(same p.a p.b);
          message = "boot.blankroot: ${p.a.mountPoint} and ${p.b.mountPoint} are the same ${if p.a.fileSystem == "zfs" then "dataset" else "subvolume"}; wipe it once (remove one of the targets).";
        }
        {
          assertion = p.a.mountPoint == "/" || !(under p.a.mountPoint p.b.mountPoint);
          message = "boot.blankroot: the target ${p.b.mountPoint} lies inside the target ${p.a.mountPoint}; wipe the outer one only, or make the inner one a filesystem that is not wiped.";
        }
        {
          assertion =
            let
              inner = if p.a.fileSystem == "zfs" then p.b.dataset else p.b.subvolume;
              outer = if p.a.fileSystem == "zfs" then p.a.dataset else p.a.subvolume;
            in
            !(p.a.fileSystem == p.b.fileSystem && inner != null && outer != null && (p.a.fileSystem == "zfs" || p.a.device == p.b.device) && lib.hasPrefix "${outer}/" inner);
          message = "boot.blankroot: the ${if p.a.fileSystem == "zfs" then "dataset" else "subvolume"} of ${p.b.mountPoint} lies inside that of ${p.a.mountPoint} and would be erased with it; move it to its own top-level subvolume or dataset.";
        }
      ]) pairs;

    # The booted system's status check waits for the targets rolled back there.

    # Scripted stage 1: after the root's rollback (scripted.nix), one run per target.
    boot.initrd.postResumeCommands = lib.mkIf (cfg.initrdRollback && !systemdInitrd && initrdTargets != [ ]) (
      lib.mkAfter (
        lib.concatMapStrings (t: ''
          # blankroot: put ${t.mountPoint} back to a blank snapshot (${name t})
          blankroot_rc=0
          blankroot rollback ${lib.escapeShellArgs t.rollbackArgs} || blankroot_rc=$?
          if [ "$blankroot_rc" -ne 0 ]; then
            echo "blankroot: the rollback of ${t.mountPoint} failed (exit $blankroot_rc); it was NOT reset"
            ${if stop t then ''echo "blankroot: ${name t}.onFailure = stop"; fail'' else "true"}
          fi
        '') initrdTargets
      )
    );

    boot.initrd.systemd.storePaths = lib.mkIf (initrdTargets != [ ] && systemdInitrd) [ bin ];
    boot.initrd.systemd.services = lib.mkIf (cfg.initrdRollback && systemdInitrd) (
      lib.listToAttrs (map (t: lib.nameValuePair (unitName t) (initrdUnit t)) initrdTargets)
    );
    systemd.services = lib.mkMerge [
      (lib.mkIf cfg.initrdRollback (
        lib.listToAttrs (map (t: lib.nameValuePair (unitName t) (bootedUnit t)) bootedTargets)
      ))
      # The booted system's status check waits for the targets rolled back there.
      (lib.mkIf (cfg.statusCheck && bootedTargets != [ ]) {
        blankroot-status.after = map (t: "${unitName t}.service") bootedTargets;
      })
    ];
  };
}
