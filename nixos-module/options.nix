# boot.blankroot: options, the defaults derived from fileSystems."/" and boot.initrd.luks, and
# the assertions that catch a configuration that would not roll back (or would erase too much).
{
  config,
  lib,
  options,
  pkgs,
  utils,
  ...
}:
let
  inherit (lib) mkOption types literalExpression literalMD;
  cfg = config.boot.blankroot;
  h = import ./lib.nix { inherit lib utils; };
  root = h.rootFs config.fileSystems;
  rootType = if root == null then null else root.fsType;
  derivedFs = if lib.elem rootType [ "btrfs" "zfs" ] then rootType else null;
  rootSubvol = if root == null then null else h.subvolOf root;
  rootSubvolid = root != null && h.hasSubvolid root;
  fsArgs = {
    inherit (config) fileSystems;
    inherit (cfg) device subvolume;
  };
  nested = h.nestedInRoot fsArgs;
  byId = h.subvolidOthers { inherit (config) fileSystems; inherit (cfg) device; };
  btrfs = cfg.fileSystem == "btrfs";
  zfs = cfg.fileSystem == "zfs";
  isName = s: s != null && s != "" && !(lib.hasPrefix "/" s) && !(lib.elem ".." (lib.splitString "/" s));
  fsName = fs: ''fileSystems."${fs.mountPoint}"'';
  zfsCfg = config.boot.zfs or { };
  # Automatic boot assessment: systemd-boot's boot counting (nixos/tests/systemd-boot.nix sets
  # boot.loader.systemd-boot.bootCounting = { enable; tries; }; older nixpkgs have no such
  # option), or lanzaboote's (nix/modules/lanzaboote.nix: bootCounting.initialTries, 0 = off).
  sdBoot = config.boot.loader.systemd-boot or { };
  lanza = config.boot.lanzaboote or { };
  bootCounting =
    (options ? boot.loader.systemd-boot.bootCounting.enable && (sdBoot.enable or false) && sdBoot.bootCounting.enable)
    || (options ? boot.lanzaboote.bootCounting.initialTries && (lanza.enable or false) && lanza.bootCounting.initialTries > 0);
  isEntryName = s: builtins.match "[A-Za-z0-9_][A-Za-z0-9._-]*" s != null;
in
{
  options.boot.blankroot = {
    enable = lib.mkEnableOption "putting / back to a blank snapshot at every boot, in the initrd (blankroot)";

    package = mkOption {
      type = types.package;
      default = pkgs.blankroot or (pkgs.callPackage ../package.nix { });
      defaultText = literalExpression "pkgs.blankroot or (pkgs.callPackage ./package.nix { })";
      description = "The blankroot package (statically linked; it is copied into the initrd).";
    };

    fileSystem = mkOption {
      type = types.nullOr (types.enum [ "btrfs" "zfs" ]);
      default = derivedFs;
      defaultText = literalMD ''`fileSystems."/".fsType`, when it is btrfs or zfs'';
      description = "Filesystem of the root. Anything else (including a tmpfs root) is refused by an assertion.";
    };

    device = mkOption {
      type = types.nullOr types.str;
      default = if btrfs && root != null then h.devicePath (root.device or null) else null;
      defaultText = literalMD ''`fileSystems."/".device` (`UUID=…` becomes `/dev/disk/by-uuid/…`)'';
      example = "/dev/mapper/enc";
      description = "Btrfs: the block device holding the root subvolume.";
    };

    subvolume = mkOption {
      type = types.nullOr types.str;
      default = if btrfs then rootSubvol else null;
      defaultText = literalMD ''the `subvol=` option of `fileSystems."/"`, without a leading `/`'';
      example = "@";
      description = "Btrfs: the root subvolume, relative to the top level (`root`, `@`, `@root`).";
    };

    blankSnapshot = mkOption {
      type = types.nullOr types.str;
      default = "${if cfg.subvolume == null then "root" else cfg.subvolume}-blank";
      defaultText = literalExpression ''"''${subvolume}-blank"'';
      example = "root-blank";
      description = ''
        Btrfs: the read-only snapshot the root is recreated from, relative to the top level.
        `null` recreates an empty root (`--empty`, what itsdrike's NixOS guide (its "Impermanence" chapter) did with `btrfs subvolume create`).
      '';
    };

    protect = mkOption {
      type = types.listOf types.str;
      default = if btrfs then h.defaultProtect fsArgs else [ ];
      defaultText = literalMD "the `subvol=` of every other `fileSystems` entry on the same device";
      description = ''
        Btrfs: subvolumes that must survive. The rollback refuses to run (and changes nothing) if
        one of them lies inside the root subvolume.
      '';
    };

    dataset = mkOption {
      type = types.nullOr types.str;
      default = if zfs && root != null then root.device or null else null;
      defaultText = literalExpression ''fileSystems."/".device'';
      example = "rpool/local/root";
      description = "ZFS: the root dataset.";
    };

    snapshot = mkOption {
      type = types.str;
      default = "blank";
      description = "ZFS: the snapshot of the root dataset to roll back to (`zfs rollback -r dataset@snapshot`).";
    };

    archive = {
      enable = mkOption {
        type = types.bool;
        default = true;
        example = false;
        description = ''
          Keep the old root (moved aside into `archive.directory`) instead of deleting it, so what
          the wipe took can be listed (`blankroot archives`) and copied back (`blankroot restore`).
          On by default in the module (the binary alone deletes unless given `--archive-dir`): the
          first boots after an install are when most things that should have been persisted are
          lost. The cost is the disk space of up to `keep` old roots, none older than `keepDays`
          days (Btrfs: what each old root holds beyond the blank; ZFS: the blocks it changed).
          Btrfs: below `minFreeSpace` of free space that boot deletes the old root instead, with a
          warning. `false`: delete the old root at every boot.
        '';
      };
      directory = mkOption {
        type = types.str;
        default = if zfs then "${if cfg.dataset == null then "rpool" else dirOf cfg.dataset}/old_roots" else "old_roots";
        defaultText = literalMD ''`"old_roots"` (Btrfs, under the top level); `"<parent of dataset>/old_roots"` (ZFS)'';
        description = "Where old roots go: a directory relative to the Btrfs top level, or a ZFS dataset (POOL/PATH).";
      };
      keep = mkOption {
        type = types.nullOr types.ints.positive;
        default = 3;
        description = "Keep at most this many archives (the newest, counting the one just made); `null`: no limit by count.";
      };
      keepDays = mkOption {
        type = types.nullOr types.ints.positive;
        default = 14;
        description = "Delete archives older than this many days (the newest is always kept); `null`: no limit by age.";
      };
    };

    minFreeSpace = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "1G";
      description = "Btrfs: below this much free data or metadata space the old root is deleted instead of archived, with a warning (binary default: 256M, or 5% of a smaller filesystem).";
    };

    mountOptions = mkOption {
      type = types.listOf types.str;
      default = if btrfs && root != null then h.topMountOptions root else [ ];
      defaultText = literalMD ''the `device=` and `degraded` options of `fileSystems."/"` (Btrfs)'';
      example = [
        "device=/dev/vdb"
        "device=/dev/vdc"
        "degraded"
      ];
      description = ''
        Btrfs: options added to `subvolid=5` for the rollback's mount of the top level
        (`blankroot rollback --mount-options`): the member devices of a multi-device filesystem and
        `degraded`, so a RAID1 root that boots with a device missing is rolled back too. Never
        `subvol=` or `subvolid=`.
      '';
    };

    luksDevices = mkOption {
      type = types.listOf types.str;
      default = h.luksBacking {
        luksDevices = config.boot.initrd.luks.devices or { };
        inherit (cfg) device;
      };
      defaultText = literalMD ''
        `[ name ]` when the root device is `/dev/mapper/name`, else every `boot.initrd.luks.devices` name'';
      description = "Names of boot.initrd.luks.devices the rollback waits for (systemd stage 1).";
    };

    onFailure = mkOption {
      type = types.enum [ "continue" "stop" ];
      default = "continue";
      description = ''
        What happens when the rollback fails. `continue`: the boot goes on with the old, un-wiped
        root and the booted system reports it (blankroot-status.service fails). `stop`: the root is
        not mounted and the initrd drops to emergency mode; boot once with `rd.blankroot=0` to get in.
        Nothing is deleted in either case.
      '';
    };

    logLevel = mkOption {
      type = types.nullOr (types.enum [ "error" "warn" "info" "debug" ]);
      default = null;
      description = "Log level of the rollback (binary default: info).";
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Extra arguments for `blankroot rollback`.";
    };

    noWipeEntry = {
      enable = lib.mkEnableOption ''
        a boot entry that boots this configuration without erasing /: a specialisation with the
        rollback turned off (signed by lanzaboote like every other entry). Boot it once with
        `bootctl set-oneshot` or `systemctl reboot --boot-loader-entry=` where the kernel command
        line cannot be edited (Secure Boot), instead of `blankroot skip-next-boot`'';
      name = mkOption {
        type = types.str;
        default = "no-wipe";
        description = ''
          The specialisation's name: the boot menu shows it as "NixOS (no-wipe)", and it is also
          added to system.nixos.tags (the entry's version line and the system's label).
        '';
      };
    };

    initrdRollback = mkOption {
      type = types.bool;
      default = true;
      internal = true;
      description = "Whether the initrd runs the rollback (false in the no-wipe entry's specialisation).";
    };

    statusCheck = mkOption {
      type = types.bool;
      default = true;
      description = "Run blankroot-status.service early in the booted system; it fails when the rollback did not run or failed this boot. It is ordered before boot-complete.target.";
    };

    bootAssessment = mkOption {
      type = types.bool;
      default = bootCounting;
      defaultText = literalMD ''`true` when boot counting is on (`boot.loader.systemd-boot.bootCounting.enable` with systemd-boot, `boot.lanzaboote.bootCounting.initialTries > 0` with lanzaboote)'';
      description = ''
        Make blankroot-status.service required by boot-complete.target (as systemd's
        systemd-boot-check-no-failures.service is), so with automatic boot assessment a boot whose
        rollback failed or did not run is not marked good. Needs `statusCheck`.
      '';
    };

    metrics = {
      enable = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Write blankroot's status as Prometheus metrics for node-exporter's textfile collector,
          at every boot and then every `metrics.interval`: per target the result of this boot's
          rollback, its duration, whether it was skipped and why, the archives kept and their
          size, and the findings of `blankroot check` (blankroot-metrics.service, running
          `blankroot status --format prometheus --output <directory>/blankroot.prom`). Point the
          exporter at the directory: `services.prometheus.exporters.node.enabledCollectors =
          [ "textfile" ]` and `extraFlags = [ "--collector.textfile.directory=<directory>" ]`.
        '';
      };
      directory = mkOption {
        type = types.str;
        default = "/var/lib/prometheus-node-exporter-text-files";
        description = "The textfile collector's directory; blankroot writes `blankroot.prom` there (whole or not at all) and makes the directory if it is missing.";
      };
      interval = mkOption {
        type = types.nullOr types.str;
        default = "hourly";
        example = "*:0/15";
        description = "How often the metrics are written again after boot (a systemd calendar event, the unit's `startAt`); `null`: once per boot.";
      };
      check = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Run `blankroot check --record` before writing the metrics, so they carry what the next
          boot would lose (it reads the whole root once, like `blankroot diff`). Without it the
          check findings are those of the last `blankroot check --record` of this boot, if any.
        '';
      };
    };

    preSwitchCheck = mkOption {
      type = types.enum [ "off" "warn" "enforce" ];
      default = "warn";
      description = ''
        Run `blankroot check --config <new system>/etc/blankroot/config.json` from
        system.preSwitchChecks (when nixpkgs has it) on `switch`, `boot` and `check`: the next
        boot's rollback, and what the configuration being switched to would lose (state that must
        persist and is not, newly persisted paths whose data still lies only on the root). `warn`
        prints the findings; `enforce` adds `--strict` and refuses the switch on any finding (also
        `nixos-install`, until the blank snapshot exists).
      '';
    };

    rollbackArgs = mkOption {
      type = types.listOf types.str;
      internal = true;
      readOnly = true;
      default = h.rollbackArgs cfg;
      description = "The arguments after `blankroot rollback` (also in /etc/blankroot/config.json).";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.fileSystem != null;
        message =
          if rootType == "tmpfs" then
            ''boot.blankroot: fileSystems."/" is a tmpfs, which is empty at every boot already: there is nothing to roll back. Remove boot.blankroot.enable.''
          else if root == null then
            ''boot.blankroot: there is no fileSystems."/"; set boot.blankroot.fileSystem and its device/subvolume or dataset.''
          else
            ''boot.blankroot: the root filesystem type is "${rootType}"; only btrfs and zfs roots can be rolled back. Set boot.blankroot.fileSystem if fileSystems."/".fsType is wrong.'';
      }
      {
        assertion = !(btrfs && rootSubvolid);
        message = ''boot.blankroot: fileSystems."/".options uses subvolid=; the root subvolume is recreated at every boot, so its id changes and the mount would fail. Use subvol=<name> instead (boot.blankroot.subvolume follows it).'';
      }
      {
        assertion = btrfs -> cfg.device != null;
        message = ''boot.blankroot: set boot.blankroot.device (fileSystems."/" has no device).'';
      }
      {
        assertion = btrfs -> isName cfg.subvolume;
        message = ''boot.blankroot: set boot.blankroot.subvolume to the root subvolume, relative to the top level (got ${builtins.toJSON cfg.subvolume}); add subvol=<name> to fileSystems."/".options, a root on the top-level subvolume cannot be rolled back.'';
      }
      {
        assertion = btrfs && cfg.blankSnapshot != null -> isName cfg.blankSnapshot && cfg.blankSnapshot != cfg.subvolume;
        message = "boot.blankroot: boot.blankroot.blankSnapshot (${builtins.toJSON cfg.blankSnapshot}) must be a name relative to the top level and differ from boot.blankroot.subvolume (${builtins.toJSON cfg.subvolume}).";
      }
      {
        assertion = btrfs && cfg.archive.enable -> isName cfg.archive.directory && cfg.archive.directory != cfg.subvolume && !(lib.hasPrefix "${toString cfg.subvolume}/" cfg.archive.directory);
        message = "boot.blankroot: boot.blankroot.archive.directory (${builtins.toJSON cfg.archive.directory}) must be a name relative to the top level, outside the root subvolume.";
      }
      {
        assertion = zfs -> cfg.mountOptions == [ ];
        message = "boot.blankroot.mountOptions is for Btrfs only (got ${builtins.toJSON cfg.mountOptions} with a ZFS root).";
      }
      {
        assertion = !(lib.any (o: lib.hasPrefix "subvol=" o || lib.hasPrefix "subvolid=" o || lib.hasInfix "," o) cfg.mountOptions);
        message = "boot.blankroot.mountOptions (${builtins.toJSON cfg.mountOptions}): one option per element, and never subvol= or subvolid= (the top level is mounted with subvolid=5).";
      }
      {
        assertion = cfg.noWipeEntry.enable -> isEntryName cfg.noWipeEntry.name;
        message = "boot.blankroot.noWipeEntry.name (${builtins.toJSON cfg.noWipeEntry.name}) must be a specialisation name: letters, digits, '.', '_' and '-'.";
      }
      {
        assertion = btrfs -> nested == [ ];
        message = "boot.blankroot: ${lib.concatMapStringsSep ", " fsName nested} lies inside the root subvolume ${toString cfg.subvolume} and would be erased at every boot; move it to its own top-level subvolume.";
      }
      {
        assertion = zfs -> cfg.dataset != null && lib.hasInfix "/" cfg.dataset;
        message = ''boot.blankroot: set boot.blankroot.dataset to the root dataset, POOL/DATASET (got ${builtins.toJSON cfg.dataset}).'';
      }
      {
        # nixpkgs refuses allowHibernation with force imports too (zfs.nix); said again here because
        # a forced import of a pool a hibernated kernel still holds corrupts it before we run.
        assertion = zfs -> !((zfsCfg.forceImportRoot or false) && (zfsCfg.allowHibernation or false));
        message = "boot.blankroot: boot.zfs.forceImportRoot with boot.zfs.allowHibernation imports a pool a hibernated kernel may still hold; set boot.zfs.forceImportRoot = false.";
      }
    ];

    warnings =
      lib.optional (btrfs && byId != [ ])
        "boot.blankroot: ${lib.concatMapStringsSep ", " fsName byId} name their subvolume with subvolid=; blankroot cannot check that it lies outside the root. Prefer subvol=."
      ++ lib.optional (zfs && ((config.services.zfs.autoSnapshot.enable or false) || (config.services.sanoid.enable or false)))
        "boot.blankroot: zfs rollback -r destroys every snapshot of ${toString cfg.dataset} newer than @${cfg.snapshot}; exclude the root dataset from automatic snapshots.";
  };
}
