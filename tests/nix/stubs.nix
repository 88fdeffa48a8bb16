# Loose stand-ins for the NixOS options the blankroot module reads and writes, so the module can be
# evaluated with nothing but nixpkgs' lib (lib.evalModules). Only the shapes matter; the unit
# submodule deliberately has no `script` or `path`, so the module setting either fails here.
# initrdServices (and initrdServicesExtra, more declarations of the same option) replace the
# loose unit type of boot.initrd.systemd.services with nixpkgs' own (tests/nix/nixpkgs-systemd.nix).
{
  withPreSwitchChecks ? true,
  withImpermanence ? false,
  withPreservation ? false,
  # services.openssh, sops-nix's sops.{age,gnupg} and agenix's age.identityPaths.
  withSecrets ? false,
  # boot.loader.systemd-boot.{enable,bootCounting} (nixpkgs with boot counting).
  withBootCounting ? false,
  # boot.lanzaboote.{enable,bootCounting.initialTries}.
  withLanzaboote ? false,
  withSpecialisations ? true,
  withZfsOptions ? false,
  initrdServices ? null,
  initrdServicesExtra ? [ ],
  # A directory holding nixpkgs' own nixos/modules/misc/assertions.nix and
  # nixos/modules/system/activation/pre-switch-check.nix (../shared/upstream/nixpkgs-partial):
  # those modules declare `assertions`, `warnings` and `system.preSwitchChecks` instead of the
  # stand-ins below.
  upstream ? null,
}:
{ lib, config, ... }:
let
  inherit (lib) mkOption types;
  list = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };
  unit = types.submodule {
    options = {
      description = mkOption {
        type = types.str;
        default = "";
      };
      after = list;
      before = list;
      requires = list;
      wants = list;
      conflicts = list;
      wantedBy = list;
      requiredBy = list;
      startAt = mkOption {
        type = types.either types.str (types.listOf types.str);
        default = [ ];
      };
      unitConfig = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
      serviceConfig = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
    };
  };
  fileSystem =
    { name, config, ... }:
    {
      options = {
        enable = mkOption {
          type = types.bool;
          default = true;
        };
        mountPoint = mkOption {
          type = types.str;
          default = name;
        };
        device = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
        label = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
        fsType = mkOption {
          type = types.str;
          default = "auto";
        };
        options = mkOption {
          type = types.listOf types.str;
          default = [ "defaults" ];
        };
        neededForBoot = mkOption {
          type = types.bool;
          default = false;
        };
      };
      config.device = lib.mkIf (config.label != null) (lib.mkDefault "/dev/disk/by-label/${config.label}");
    };
  lines = mkOption {
    type = types.lines;
    default = "";
  };
in
{
  imports =
    map (type: { options.boot.initrd.systemd.services = mkOption { inherit type; }; }) initrdServicesExtra
    ++ lib.optional (withPreSwitchChecks && upstream != null) (
      upstream + "/nixos/modules/system/activation/pre-switch-check.nix"
    )
    ++ lib.optional (withPreSwitchChecks && upstream == null) {
      options.system.preSwitchChecks = mkOption {
        type = types.attrsOf types.str;
        default = { };
      };
    }
    ++ lib.optional (upstream != null) (upstream + "/nixos/modules/misc/assertions.nix")
    ++ lib.optional (upstream == null) {
      options.assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      options.warnings = list;
    }
    ++ lib.optional withImpermanence {
      options.environment.persistence = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
    }
    ++ lib.optional withPreservation {
      options.preservation.enable = mkOption {
        type = types.bool;
        default = false;
      };
      options.preservation.preserveAt = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
    }
    ++ lib.optional withSecrets {
      options.services.openssh.enable = mkOption {
        type = types.bool;
        default = false;
      };
      # nixpkgs' default (sshd.nix).
      options.services.openssh.hostKeys = mkOption {
        type = types.listOf types.attrs;
        default = [
          {
            type = "rsa";
            bits = 4096;
            path = "/etc/ssh/ssh_host_rsa_key";
          }
          {
            type = "ed25519";
            path = "/etc/ssh/ssh_host_ed25519_key";
          }
        ];
      };
      options.sops.age.keyFile = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
      options.sops.age.sshKeyPaths = list;
      options.sops.gnupg.home = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
      options.sops.gnupg.sshKeyPaths = list;
      options.age.identityPaths = list;
    }
    ++ lib.optional withBootCounting {
      options.boot.loader.systemd-boot.enable = mkOption {
        type = types.bool;
        default = false;
      };
      options.boot.loader.systemd-boot.bootCounting = {
        enable = mkOption {
          type = types.bool;
          default = false;
        };
        tries = mkOption {
          type = types.int;
          default = 3;
        };
      };
    }
    ++ lib.optional withLanzaboote {
      options.boot.lanzaboote.enable = mkOption {
        type = types.bool;
        default = false;
      };
      options.boot.lanzaboote.bootCounting.initialTries = mkOption {
        type = types.ints.unsigned;
        default = 0;
      };
    }
    ++ lib.optional withSpecialisations {
      # The configuration is kept as written (types.raw): tests/nix/eval.nix evaluates it again
      # on top of the parent's modules, as inheritParentConfig = true does.
      options.specialisation = mkOption {
        type = types.attrsOf (
          types.submodule {
            options.inheritParentConfig = mkOption {
              type = types.bool;
              default = true;
            };
            options.configuration = mkOption {
              type = types.raw;
              default = { };
            };
          }
        );
        default = { };
      };
      options.system.nixos.tags = list;
    }
    ++ lib.optional withZfsOptions {
      options.boot.zfs.forceImportRoot = mkOption {
        type = types.bool;
        default = true;
      };
      options.boot.zfs.allowHibernation = mkOption {
        type = types.bool;
        default = false;
      };
    };

  options = {
      fileSystems = mkOption {
        type = types.attrsOf (types.submodule fileSystem);
        default = { };
        apply = lib.filterAttrs (_: fs: fs.enable);
      };
      boot.initrd.luks.devices = mkOption {
        type = types.attrsOf (types.submodule { options.device = mkOption { type = types.str; }; });
        default = { };
      };
      boot.initrd.systemd.enable = mkOption {
        type = types.bool;
        default = true;
      };
      boot.initrd.systemd.services = mkOption {
        type = if initrdServices == null then types.attrsOf unit else initrdServices;
        default = { };
      };
      boot.initrd.systemd.storePaths = list;
      boot.initrd.extraUtilsCommands = lines;
      boot.initrd.extraUtilsCommandsTest = lines;
      boot.initrd.postResumeCommands = lines;
      environment.systemPackages = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      environment.etc = mkOption {
        type = types.attrsOf (types.submodule { options.text = mkOption { type = types.str; }; });
        default = { };
      };
      systemd.services = mkOption {
        type = types.attrsOf unit;
        default = { };
      };
    };
}
