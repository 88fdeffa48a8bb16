# boot.blankroot.noWipeEntry: a specialisation of this configuration without the rollback, so the
# boot menu has an entry that boots the old root as it is. It is an ordinary specialisation:
# systemd-boot lists it ("NixOS (no-wipe)", nixos/modules/system/boot/loader/systemd-boot/
# systemd-boot-builder.py writes `title <distroName> (<specialisation>)` for old and new entry
# names alike) and lanzaboote signs it like every other entry, which a kernel command line edited
# at the boot menu is not (systemd-stub ignores it under Secure Boot). The specialisation itself
# has no entry of its own (nixos/modules/system/activation/no-clone.nix empties `specialisation`).
#
# Inside it: no rollback in the initrd (boot.blankroot.initrdRollback), no blankroot-status.service
# (it would fail: no rollback ran), the tools and /etc/blankroot/config.json as usual (`blankroot
# restore`, `archives` and `skip-next-boot` work there), and the name in system.nixos.tags, so the
# system's label and the entry's version line say which it is.
{
  config,
  lib,
  options,
  ...
}:
let
  cfg = config.boot.blankroot;
  nw = cfg.noWipeEntry;
in
{
  config = lib.mkIf (cfg.enable && nw.enable) (
    lib.optionalAttrs (options ? specialisation) {
      specialisation.${nw.name} = {
        inheritParentConfig = true;
        configuration = {
          boot.blankroot.initrdRollback = false;
          boot.blankroot.statusCheck = lib.mkForce false;
          system.nixos.tags = [ nw.name ];
        };
      };
    }
  );
}
