# systemd stage 1 (boot.initrd.systemd.enable, the default since nixpkgs 26.05): blankroot.service.
#
# Unit names checked against nixpkgs (read_file on NixOS/nixpkgs):
# - systemd-cryptsetup@<utils.escapeSystemdPath name>.service: luksroot.nix (crypttab in the
#   initrd, one unit per boot.initrd.luks.devices entry; clevis units order against the same name).
# - zfs-import-<pool>.service: tasks/filesystems/zfs.nix createImportService (pool name unescaped,
#   RequiredBy/Before the pool's /sysroot mounts, not ordered after cryptsetup or resume).
# - sysroot.mount, sysroot-<path>.mount: the fstab generator with root=fstab (systemd/initrd.nix);
#   zfs.nix derives the same names with escapeSystemdPath ("/sysroot" + mountPoint).
# - local-fs-pre.target, systemd-hibernate-resume.service, systemd-modules-load.service,
#   shutdown.target, initrd.target: upstreamUnits in systemd/initrd.nix.
# ExecStart is the absolute store path; storePaths copies the (static) binary into the initrd.
# No `script` (a bash job script) and no `path` (store paths not copied into the initrd).
{
  config,
  lib,
  utils,
  ...
}:
let
  cfg = config.boot.blankroot;
  h = import ./lib.nix { inherit lib utils; };
  btrfs = cfg.fileSystem == "btrfs";
  pool = h.poolOf cfg.dataset;
  others = h.others config.fileSystems;
  sameFs =
    if btrfs then
      h.sameBtrfs (h.rootDevices {
        inherit (config) fileSystems;
        inherit (cfg) device;
      })
    else
      h.sameZfs pool;
  # The root, and every other filesystem of the same device or pool mounted in the initrd.
  sysrootMounts = lib.unique (
    [ "sysroot.mount" ] ++ h.sysrootUnits (lib.filter (fs: h.neededForBoot fs && sameFs fs) others)
  );
  deviceUnit =
    lib.optional (btrfs && lib.hasPrefix "/dev/" (toString cfg.device))
      "${utils.escapeSystemdPath cfg.device}.device";
  importUnit = lib.optional (!btrfs && pool != null) "zfs-import-${pool}.service";
  cryptUnits = map (n: "systemd-cryptsetup@${utils.escapeSystemdPath n}.service") cfg.luksDevices;
  # The other members of a multi-device root (device= in mountOptions): waited for unless the
  # root may mount `degraded` (then one may be missing for good), always ordered after.
  memberUnits = map (d: "${utils.escapeSystemdPath d}.device") (
    lib.filter (d: lib.hasPrefix "/dev/" d && d != toString cfg.device) (h.mountDevices cfg.mountOptions)
  );
  degraded = lib.elem "degraded" cfg.mountOptions;
  bin = "${cfg.package}/bin/blankroot";
  stop = cfg.onFailure == "stop";
in
{
  config = lib.mkIf (cfg.enable && cfg.initrdRollback && config.boot.initrd.systemd.enable) {
    boot.initrd.systemd.storePaths = [ bin ];

    boot.initrd.systemd.services.blankroot = {
      description = "Put / back to a blank snapshot (blankroot)";
      unitConfig = {
        DefaultDependencies = false;
        # One run per boot: the isolate to initrd-switch-root.target starts a *failed* oneshot
        # again, with /sysroot mounted (found by the qemu boot tests). The binary writes this
        # record on every run.
        ConditionPathExists = "!/run/blankroot/status.json";
      };
      requires = deviceUnit ++ importUnit;
      wants = lib.optionals (!degraded) memberUnits;
      after =
        deviceUnit
        ++ memberUnits
        ++ importUnit
        ++ cryptUnits
        ++ [
          # After hibernation resume: touching a filesystem a hibernated kernel holds corrupts it.
          "local-fs-pre.target"
          "systemd-hibernate-resume.service"
          "systemd-modules-load.service"
        ];
      before = sysrootMounts ++ [ "shutdown.target" ];
      conflicts = [ "shutdown.target" ];
      # stop: sysroot.mount Requires= this unit, so a failed rollback leaves the old root unmounted
      # (and initrd.target fails into emergency mode). continue: only wanted; the boot goes on.
      # Both keep the unit in initrd-switch-root.target's closure, so the isolate at switch-root
      # never stops it (a Requires= stop would propagate to sysroot.mount).
      requiredBy = lib.optionals stop [ "sysroot.mount" "initrd.target" ];
      wantedBy = lib.optionals (!stop) [ "sysroot.mount" "initrd.target" ];
      serviceConfig = {
        Type = "oneshot";
        # initrd-parse-etc.service reloads systemd and pulls sysroot.mount in again: run once.
        RemainAfterExit = true;
        ExecStart = "${bin} rollback ${utils.escapeSystemdExecArgs cfg.rollbackArgs}";
        TimeoutStartSec = "10min";
      };
    };
  };
}
