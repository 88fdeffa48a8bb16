# Scripted stage 1 (boot.initrd.systemd.enable = false; seeds 000 and 001, older releases).
#
# stage-1.nix: extraUtilsCommands runs in the extra-utils builder (copy_bin_and_libs, then
# nuke-refs on every copied binary, so nothing may rely on a /nix/store path baked into it:
# blankroot finds zfs/zpool through PATH, which is extra-utils' bin). extraUtilsCommandsTest runs
# after patchelf. stage-1-init.sh order: LUKS (preLVMCommands/postDeviceCommands), resume,
# postResumeCommands (zfs.nix imports the root pools there at normal priority), then the mounts.
# lib.mkAfter puts the rollback after the ZFS import and before the root is mounted.
# waitDevice and fail are functions of stage-1-init.sh.
{
  config,
  lib,
  utils,
  ...
}:
let
  cfg = config.boot.blankroot;
  btrfs = cfg.fileSystem == "btrfs";
  args = lib.escapeShellArgs cfg.rollbackArgs;
  device = lib.escapeShellArg (toString cfg.device);
in
{
  config = lib.mkIf (cfg.enable && cfg.initrdRollback && !config.boot.initrd.systemd.enable) {
    boot.initrd.extraUtilsCommands = ''
      copy_bin_and_libs ${cfg.package}/bin/blankroot
    '';
    boot.initrd.extraUtilsCommandsTest = ''
      $out/bin/blankroot --version
    '';
    boot.initrd.postResumeCommands = lib.mkAfter ''
      # blankroot: put / back to a blank snapshot (boot.blankroot)
      ${lib.optionalString btrfs ''
        if command -v waitDevice >/dev/null 2>&1; then waitDevice ${device} || true; fi
      ''}blankroot_rc=0
      blankroot rollback ${args} || blankroot_rc=$?
      if [ "$blankroot_rc" -ne 0 ]; then
        echo "blankroot: the rollback failed (exit $blankroot_rc); / was NOT reset"
        ${
          if cfg.onFailure == "stop" then
            ''echo "blankroot: boot.blankroot.onFailure = stop: not mounting the old root; boot with rd.blankroot=0 to skip"; fail''
          else
            ''echo "blankroot: boot.blankroot.onFailure = continue: booting the old root"''
        }
      fi
    '';
  };
}
