# Evaluates the blankroot module against stand-ins (stubs.nix, systemd-escape.nix) for
# representative configurations and checks what it generates.
#   nix-instantiate --eval --strict --json tests/nix/eval.nix --arg lib 'import <nixpkgs.lib>/lib' \
#     [--arg nixpkgs <a nixpkgs checkout, or a directory with its nixos/lib/ files>]
# With `nixpkgs`, nixpkgs' own utils.nix, unit types and serviceToUnit (tests/nix/nixpkgs-systemd.nix)
# replace the stand-ins where they matter: the golden unit is rendered by nixpkgs' code, and the
# project's renderer and escaping stand-ins must agree with it.
# Result: { failures = [ ... ]; golden = "..."; renderedBy = "..."; rootCases = { ... }; }
# (tests/nix/check.sh).
{
  lib,
  nixpkgs ? null,
  # A directory with nixpkgs' nixos/modules/misc/assertions.nix and
  # nixos/modules/system/activation/pre-switch-check.nix (tests/nix/stubs.nix `upstream`).
  upstreamModules ? null,
}:
let
  escape = import ./systemd-escape.nix { inherit lib; };
  h = import ../../nixos-module/lib.nix {
    inherit lib;
    utils = { };
  };
  seeds = import ./seeds.nix;
  pkgPath = "/nix/store/00000000000000000000000000000000-blankroot-0.1.0";
  bin = "${pkgPath}/bin/blankroot";
  package = {
    type = "derivation";
    name = "blankroot-0.1.0";
    outPath = pkgPath;
  };

  # The stage-2 systemd.globalEnvironment of a default NixOS: TZDIR (nixos/modules/config/locale.nix)
  # and LOCALE_ARCHIVE (nixos/modules/config/i18n.nix). nixpkgs' serviceToUnit writes it into every
  # service, initrd ones included. Store paths are placeholders, as @blankroot@ is.
  globalEnvironment = {
    LOCALE_ARCHIVE = "@glibcLocales@/lib/locale/locale-archive";
    TZDIR = "@tzdata@/share/zoneinfo";
  };
  real =
    if nixpkgs == null then
      null
    else
      import ./nixpkgs-systemd.nix {
        inherit lib globalEnvironment;
        nixos = nixpkgs;
      };
  utils = if real == null then escape else real.utils;

  evalWith =
    stubArgs: modules:
    (lib.evalModules {
      modules = [
        (import ./stubs.nix (stubArgs // { upstream = upstreamModules; }))
        ../../nixos-module
        {
          _module.args = {
            inherit utils;
            # pre-switch-check.nix turns the fragments into one script with
            # pkgs.writeShellScript: here the script's text, for check.sh to run.
            pkgs.writeShellScript = _name: text: text;
          };
          boot.blankroot.enable = lib.mkDefault true;
          boot.blankroot.package = package;
        }
      ] ++ modules;
    }).config;
  eval = evalWith { };
  # The same, with nixpkgs' own type for boot.initrd.systemd.services.
  evalReal = evalWith {
    inherit (real) initrdServices initrdServicesExtra;
  };

  failed = c: map (a: a.message) (lib.filter (a: !a.assertion) c.assertions);
  unit = c: c.boot.initrd.systemd.services.blankroot;
  args = c: c.boot.blankroot.rollbackArgs;
  has = x: l: lib.elem x l;
  infix = needle: l: lib.any (i: lib.sublist i (lib.length needle) l == needle) (lib.range 0 (lib.length l));

  # [ name ok ] pairs; every failed one ends up in `failures`.
  check = name: ok: detail: if ok then [ ] else [ "${name}: ${detail}" ];
  eq = name: got: want: check name (got == want) "got ${builtins.toJSON got}, want ${builtins.toJSON want}";
  assertionLike =
    name: c: needle:
    check name (lib.any (lib.hasInfix needle) (failed c)) "no assertion containing ${builtins.toJSON needle}; failed: ${builtins.toJSON (failed c)}";
  clean = name: c: eq "${name}: assertions" (failed c) [ ] ++ eq "${name}: warnings" c.warnings [ ];

  devUnit = "dev-disk-by\\x2duuid-b79d3c8b\\x2dd511\\x2d4d66\\x2da5e0\\x2d641a75440ada.device";
  base = [
    "local-fs-pre.target"
    "systemd-hibernate-resume.service"
    "systemd-modules-load.service"
  ];

  s002 = evalWith { withImpermanence = true; } [ seeds.seed002 seeds.impermanence002 ];
  s002delete = eval [ seeds.seed002 { boot.blankroot.archive.enable = false; } ];
  s002enforce = eval [ seeds.seed002 { boot.blankroot.preSwitchCheck = "enforce"; } ];
  s002off = eval [ seeds.seed002 { boot.blankroot.preSwitchCheck = "off"; } ];
  # config.json with every module that names persisted paths or key files.
  persistAll = evalWith { withImpermanence = true; withPreservation = true; withSecrets = true; } [
    seeds.seed002
    seeds.impermanence002
    seeds.impermanenceEvaluated
    seeds.preservation
    seeds.secrets
    # Each store on a filesystem of its own (a store on the wiped / is refused: #231 below).
    {
      fileSystems."/persist-b" = { device = seeds.uuid; fsType = "btrfs"; options = [ "subvol=persist-b" ]; neededForBoot = true; };
      fileSystems."/state" = { device = seeds.uuid; fsType = "btrfs"; options = [ "subvol=state" ]; neededForBoot = true; };
    }
  ];
  # impermanence #231: the store inside the wiped /home; the same store on the wiped / itself.
  trap231 = evalWith { withImpermanence = true; } [
    seeds.seed002
    {
      environment.persistence."/home/persist".directories = [ "/var/lib/foo" ];
      boot.blankroot.targets."/home" = { };
    }
  ];
  trap231root = evalWith { withImpermanence = true; } [
    seeds.seed002
    { environment.persistence."/keep".directories = [ "/var/lib/foo" ]; }
  ];
  # Made safe: the store on its own subvolume, mounted inside /home.
  safe231 = evalWith { withImpermanence = true; } [
    seeds.seed002
    {
      fileSystems."/home/persist" = { device = seeds.uuid; fsType = "btrfs"; options = [ "subvol=home-persist" ]; neededForBoot = true; };
      environment.persistence."/home/persist".directories = [ "/var/lib/foo" ];
      boot.blankroot.targets."/home" = { };
    }
  ];
  preservationOff = evalWith { withPreservation = true; withSecrets = true; } [
    seeds.seed002
    seeds.preservation
    { preservation.enable = lib.mkForce false; }
  ];
  # The options exist, nothing is set (sshd off): no key files.
  secretsUnset = evalWith { withSecrets = true; } [ seeds.seed002 ];
  # The no-wipe entry, and the system inside it: the parent's modules plus the specialisation's
  # configuration (what inheritParentConfig = true evaluates).
  noWipe = eval [ seeds.seed002 { boot.blankroot.noWipeEntry.enable = true; } ];
  noWipeSpec = noWipe.specialisation.no-wipe;
  noWipeInside = eval [
    seeds.seed002
    {
      boot.blankroot.noWipeEntry.enable = true;
      boot.blankroot.statusCheck = true;
    }
    noWipeSpec.configuration
  ];
  noWipeScripted = eval [
    seeds.seed002
    {
      boot.initrd.systemd.enable = false;
      boot.blankroot.noWipeEntry.enable = true;
    }
    noWipe.specialisation.no-wipe.configuration
  ];
  noWipeNamed = eval [ seeds.seed002 { boot.blankroot.noWipeEntry = { enable = true; name = "keep-root"; }; } ];
  noWipeBadName = eval [ seeds.seed002 { boot.blankroot.noWipeEntry = { enable = true; name = "keep root/once"; }; } ];
  noWipeNoOption = evalWith { withSpecialisations = false; } [ seeds.seed002 { boot.blankroot.noWipeEntry.enable = true; } ];
  # Automatic boot assessment.
  status = c: c.systemd.services.blankroot-status;
  metricsOn = eval [ seeds.seed002 { boot.blankroot.metrics.enable = true; } ];
  metricsOnce = eval [
    seeds.seed002
    {
      boot.blankroot.metrics = {
        enable = true;
        interval = null;
        check = false;
        directory = "/srv/textfile";
      };
    }
  ];
  metricsUnit = c: c.systemd.services.blankroot-metrics;

  # boot.blankroot.targets (issue 15): /home beside /, in the initrd (same LUKS device), in the
  # booted system (a second LUKS device only crypttab opens), on ZFS; and the refusals.
  home002 = eval [ seeds.seed002 { boot.blankroot.targets."/home" = { }; } ];
  homeStage2 = eval [
    seeds.seed002
    {
      fileSystems."/home".device = lib.mkForce "/dev/mapper/crypthome";
      boot.blankroot.targets."/home" = { };
    }
  ];
  homeStop = eval [
    seeds.seed002
    {
      fileSystems."/home".device = lib.mkForce "/dev/mapper/crypthome";
      boot.blankroot.targets."/home" = { onFailure = "stop"; archive.enable = false; };
    }
  ];
  home000 = evalWith { withZfsOptions = true; } [ seeds.seed000 { boot.blankroot.targets."/home" = { }; } ];
  noFs = eval [ seeds.seed002 { boot.blankroot.targets."/srv" = { }; } ];
  twice = eval [
    seeds.seed002
    {
      fileSystems."/home2" = { device = seeds.uuid; fsType = "btrfs"; options = [ "subvol=home" ]; };
      boot.blankroot.targets."/home" = { };
      boot.blankroot.targets."/home2" = { };
    }
  ];
  nestedTarget = eval [
    seeds.seed002
    {
      fileSystems."/home/alice" = { device = seeds.uuid; fsType = "btrfs"; options = [ "subvol=alice" ]; };
      boot.blankroot.targets."/home" = { };
      boot.blankroot.targets."/home/alice" = { };
    }
  ];
  nestedSubvol = eval [
    seeds.seed002
    {
      fileSystems."/srv" = { device = seeds.uuid; fsType = "btrfs"; options = [ "subvol=home/srv" ]; };
      boot.blankroot.targets."/home" = { };
    }
  ];
  rootTarget = eval [ seeds.seed002 { boot.blankroot.targets."/" = { }; } ];
  tmpfsTarget = eval [
    seeds.seed002
    {
      fileSystems."/tmp2" = { device = "none"; fsType = "tmpfs"; };
      boot.blankroot.targets."/tmp2" = { };
    }
  ];
  refused = name: c: infix: check name (lib.any (lib.hasInfix infix) (failed c)) "no assertion with ${builtins.toJSON infix} in ${builtins.toJSON (failed c)}";
  homeArgs = [
    "--mount-point" "/home" "--fs" "btrfs" "--device" seeds.uuid "--subvolume" "home" "--blank" "home-blank"
    "--protect" "root" "--protect" "nix" "--protect" "persist" "--protect" "log"
    "--archive-dir" "old_home" "--keep" "3" "--keep-days" "14"
  ];
  counting = extra: evalWith { withBootCounting = true; withLanzaboote = true; } ([ seeds.seed002 ] ++ extra);
  countOn = counting [ { boot.loader.systemd-boot = { enable = true; bootCounting.enable = true; }; } ];
  countOffSdBoot = counting [ { boot.loader.systemd-boot.bootCounting.enable = true; } ];
  countOff = counting [ { boot.loader.systemd-boot.enable = true; } ];
  countLanza = counting [ { boot.lanzaboote = { enable = true; bootCounting.initialTries = 3; }; } ];
  countLanzaZero = counting [ { boot.lanzaboote.enable = true; } ];
  countOptedOut = counting [
    {
      boot.loader.systemd-boot = { enable = true; bootCounting.enable = true; };
      boot.blankroot.bootAssessment = false;
    }
  ];
  countNoStatus = counting [
    {
      boot.loader.systemd-boot = { enable = true; bootCounting.enable = true; };
      boot.blankroot.statusCheck = false;
    }
  ];
  # Mount options of a multi-device root.
  raid1 = eval [ seeds.raid1 ];
  raid1Degraded = eval [ seeds.raid1Degraded ];
  badMountOptions = eval [ seeds.seed002 { boot.blankroot.mountOptions = [ "subvolid=5" ]; } ];
  zfsMountOptions = eval [ seeds.seed000 { boot.blankroot.mountOptions = [ "degraded" ]; } ];
  s002noSwitch = evalWith { withPreSwitchChecks = false; } [ seeds.seed002 ];
  s002stop = eval [ seeds.seed002 { boot.blankroot.onFailure = "stop"; } ];
  s002scripted = eval [ seeds.seed002 { boot.initrd.systemd.enable = false; boot.blankroot.onFailure = "stop"; } ];
  s002archive = eval [ seeds.seed002 { boot.blankroot.archive.keep = 5; } ];
  s002unlimited = eval [ seeds.seed002 { boot.blankroot.archive = { keep = null; keepDays = null; }; } ];
  s002mapper = eval [
    seeds.seed002
    {
      fileSystems."/".device = lib.mkForce "/dev/mapper/crypt-root";
      boot.initrd.luks.devices.crypt-root.device = "/dev/disk/by-uuid/33333333-0000-0000-0000-000000000000";
    }
  ];
  s002explicit = eval [ seeds.seed002 { boot.blankroot.device = "/dev/mapper/enc"; } ];
  s004 = eval [ seeds.seed004 ];
  at = eval [ seeds.atLayout ];
  z000 = eval [ seeds.seed000 ];
  z000delete = eval [ seeds.seed000 { boot.blankroot.archive.enable = false; } ];
  z001 = eval [ seeds.seed001 ];
  z001scripted = eval [ seeds.seed001 { boot.initrd.systemd.enable = false; } ];
  zHibernate = evalWith { withZfsOptions = true; } [ seeds.seed000 { boot.zfs.allowHibernation = true; } ];
  tmpfs = eval [ seeds.seed003 ];
  ext4 = eval [ { fileSystems."/" = { device = "/dev/sda2"; fsType = "ext4"; }; } ];
  subvolid = eval [ seeds.seed002 { fileSystems."/".options = lib.mkForce [ "subvolid=256" ]; } ];
  blankIsRoot = eval [ seeds.seed002 { boot.blankroot.blankSnapshot = "root"; } ];
  nested = eval [ seeds.seed002 { fileSystems."/home".options = lib.mkForce [ "subvol=root/home" ]; } ];
  otherById = eval [ seeds.seed002 { fileSystems."/home".options = lib.mkForce [ "subvolid=300" ]; } ];
  disabled = eval [ seeds.seed002 { boot.blankroot.enable = false; } ];

  configOf = c: builtins.fromJSON c.environment.etc."blankroot/config.json".text;
  config002 = configOf s002;
  configAll = configOf persistAll;
  archiveArgs = [ "--archive-dir" "old_roots" "--keep" "3" "--keep-days" "14" ];

  # The unit text as nixpkgs writes it (nixos/lib/systemd-lib.nix: the unitConfig module turns
  # requires/after/... into [Unit] keys, attrsToSection writes one "Key=value" line per key in
  # attribute-name order and one line per element of a list value, booleans as true/false;
  # commonUnitText and serviceToUnit put [Unit], a blank line, [Service] with the Environment=
  # lines first, and [Install] with WantedBy= after a blank line when wantedBy is not empty;
  # requiredBy only makes .requires links). For when nixpkgs' files are not at hand: with them,
  # the checks below hold this renderer to nixpkgs' serviceToUnit.
  renderUnit =
    u:
    let
      value = x: if x == true then "true" else if x == false then "false" else toString x;
      lines = attrs: lib.concatStrings (lib.concatLists (lib.mapAttrsToList (k: v: map (x: "${k}=${value x}\n") (lib.toList v)) attrs));
      deps = lib.mapAttrs (_: toString) (
        lib.filterAttrs (_: l: l != [ ]) {
          Requires = u.requires or [ ];
          Wants = u.wants or [ ];
          Upholds = u.upholds or [ ];
          After = u.after or [ ];
          Before = u.before or [ ];
          BindsTo = u.bindsTo or [ ];
          PartOf = u.partOf or [ ];
          Conflicts = u.conflicts or [ ];
          Requisite = u.requisite or [ ];
          Documentation = u.documentation or [ ];
          OnFailure = u.onFailure or [ ];
          OnSuccess = u.onSuccess or [ ];
        }
      );
      unitSection = u.unitConfig // deps // lib.optionalAttrs (u.description != "") { Description = u.description; };
      env = globalEnvironment // (u.environment or { });
      envLines = lib.concatMapStrings (
        n: lib.optionalString (env.${n} != null) "Environment=${builtins.toJSON "${n}=${env.${n}}"}\n"
      ) (lib.attrNames env);
    in
    "[Unit]\n"
    + lines unitSection
    + "\n[Service]\n"
    + envLines
    + lines u.serviceConfig
    + lib.optionalString (u.wantedBy != [ ]) "\n[Install]\nWantedBy=${lib.concatStringsSep " " u.wantedBy}\n";

  # Configurations whose unit is rendered both ways when nixpkgs' files are at hand.
  renderCases = {
    seed002 = [ seeds.seed002 ];
    seed002stop = [ seeds.seed002 { boot.blankroot.onFailure = "stop"; } ];
    seed002archive = [ seeds.seed002 { boot.blankroot.archive.keep = 5; } ];
    seed002delete = [ seeds.seed002 { boot.blankroot.archive.enable = false; } ];
    raid1 = [ seeds.raid1 ];
    seed004 = [ seeds.seed004 ];
    at = [ seeds.atLayout ];
    zfs000 = [ seeds.seed000 ];
    zfs001 = [ seeds.seed001 ];
  };
  rendered = lib.mapAttrs (
    _: modules:
    {
      ours = renderUnit (unit (eval modules));
    }
    // lib.optionalAttrs (real != null) rec {
      service = unit (evalReal modules);
      nixpkgs = real.unitText service;
    }
  ) renderCases;
  norm = lib.replaceStrings [ pkgPath ] [ "@blankroot@" ];
  renderedBy =
    if real == null then
      "the project's renderer (tests/nix/eval.nix renderUnit)"
    else
      "nixpkgs' serviceToUnit (nixos/lib/systemd-lib.nix)";
  goldenHeader = ''
    # boot.initrd.systemd.services.blankroot for the layout of "Full Disk Encryption and Impermanence
    # on NixOS" (2025): btrfs on LUKS "enc", as NixOS writes it
    # to the initrd's /etc/systemd/system/blankroot.service (nixpkgs' systemd-lib.nix serviceToUnit);
    # made by tests/nix/check.sh. Store paths: @blankroot@ (the package), @glibcLocales@ and @tzdata@
    # (systemd.globalEnvironment of a default NixOS, which NixOS writes into initrd units too).
  '';

  # Inputs for comparing the escaping stand-ins with nixpkgs' utils.nix.
  escapeInputs = [
    seeds.uuid
    "/sysroot/var/log"
    "/"
    "/sysroot"
    "/dev/mapper/crypt-root"
    "crypt-root"
    "/dev/disk/by-label/my root"
    "/sysroot/srv/.hidden"
    "//sysroot//nix/"
  ];
  execArgsInputs = [
    [ "--subvolume" "my root" ]
    [ "--dataset" "rpool/local/root" "--snapshot" "%blank$" ]
    [ "quote\"back\\slash" "new\nline" ]
  ];

  failures = lib.concatLists [
    # "Full Disk Encryption and Impermanence on NixOS" (2025): everything derived from fileSystems."/" and boot.initrd.luks
    (clean "002" s002)
    # archive mode by default in the module (keep = 3, keepDays = 14), delete mode when asked
    (eq "002 args" (args s002) ([
      "--fs" "btrfs" "--device" seeds.uuid "--subvolume" "root" "--blank" "root-blank"
      "--protect" "home" "--protect" "nix" "--protect" "persist" "--protect" "log"
    ] ++ archiveArgs))
    (eq "002 archive default" { inherit (s002.boot.blankroot.archive) enable keep keepDays directory; } {
      enable = true; keep = 3; keepDays = 14; directory = "old_roots";
    })
    (eq "002 delete mode" (args s002delete) [
      "--fs" "btrfs" "--device" seeds.uuid "--subvolume" "root" "--blank" "root-blank"
      "--protect" "home" "--protect" "nix" "--protect" "persist" "--protect" "log"
    ])
    (eq "002 no limits" (lib.drop 16 (args s002unlimited)) [ "--archive-dir" "old_roots" ])
    (eq "002 requires" (unit s002).requires [ devUnit ])
    (eq "002 after" (unit s002).after ([ devUnit "systemd-cryptsetup@enc.service" ] ++ base))
    (eq "002 before" (unit s002).before [ "sysroot.mount" "sysroot-nix.mount" "sysroot-persist.mount" "sysroot-var-log.mount" "shutdown.target" ])
    (eq "002 conflicts" (unit s002).conflicts [ "shutdown.target" ])
    (eq "002 wantedBy" (unit s002).wantedBy [ "sysroot.mount" "initrd.target" ])
    (eq "002 requiredBy" (unit s002).requiredBy [ ])
    (eq "002 DefaultDependencies" (unit s002).unitConfig.DefaultDependencies false)
    (eq "002 Type" (unit s002).serviceConfig.Type "oneshot")
    (eq "002 RemainAfterExit" (unit s002).serviceConfig.RemainAfterExit true)
    (eq "002 ExecStart" (unit s002).serviceConfig.ExecStart "${bin} rollback ${utils.escapeSystemdExecArgs (args s002)}")
    (check "002 storePaths" (has bin s002.boot.initrd.systemd.storePaths) "binary not in boot.initrd.systemd.storePaths")
    (eq "002 no scripted" [ s002.boot.initrd.postResumeCommands s002.boot.initrd.extraUtilsCommands ] [ "" "" ])
    (check "002 on PATH" (has package s002.environment.systemPackages) "package not in environment.systemPackages")
    (eq "002 status unit" s002.systemd.services.blankroot-status.serviceConfig.ExecStart "${bin} status --check")
    (eq "002 status unit wantedBy" s002.systemd.services.blankroot-status.wantedBy [ "sysinit.target" ])
    (eq "002 config.json args" config002.args (args s002))
    (eq "002 config.json persisted" config002.persisted [
      "/etc/nixos" "/var/db/sudo" "/var/lib/bluetooth" "/etc/machine-id" "/etc/ssh/ssh_host_ed25519_key" "/home/alice/Documents"
    ])
    (eq "002 config.json persist_dir" config002.persist_dir "/persist")
    (eq "002 config.json persistence" (lib.head config002.persistence) { path = "/etc/nixos"; stored = "/persist/etc/nixos"; })
    (eq "002 config.json members" (lib.attrNames config002) [ "args" "mounts" "must_persist" "persist_dir" "persisted" "persistence" "stores" "targets" ])
    (eq "002 config.json: the root is the one target" config002.targets [ { mount_point = "/"; args = args s002; stage = "initrd"; } ])
    (eq "002 config.json: the stores" config002.stores [ "/persist" ])
    (eq "002 config.json: /home among the mounts" (lib.findFirst (m: m.mount_point == "/home") null config002.mounts) {
      mount_point = "/home"; fs_type = "btrfs"; device = seeds.uuid; subvolume = "home"; dataset = null; needed_for_boot = false;
    })
    # the pre-switch check reads the configuration being switched to ($1, the new toplevel)
    (check "002 preSwitchChecks" (lib.hasInfix ''new_config="''${1-}/etc/blankroot/config.json"'' s002.system.preSwitchChecks.blankroot
      && lib.hasInfix ''${bin} check --config "$new_config"; then'' s002.system.preSwitchChecks.blankroot) s002.system.preSwitchChecks.blankroot)
    (check "002 preSwitchChecks warns" (!(lib.hasInfix "exit 1" s002.system.preSwitchChecks.blankroot) && !(lib.hasInfix "--strict" s002.system.preSwitchChecks.blankroot)) "default preSwitchCheck must not be fatal")
    (check "enforce: --strict, fatal" (lib.hasInfix ''${bin} check --config "$new_config" --strict; then'' s002enforce.system.preSwitchChecks.blankroot
      && lib.hasInfix "exit 1" s002enforce.system.preSwitchChecks.blankroot) s002enforce.system.preSwitchChecks.blankroot)
    (eq "off: no pre-switch check" (removeAttrs s002off.system.preSwitchChecks [ "script" ]) { })
    (eq "002 without preSwitchChecks" (failed s002noSwitch) [ ])
    (eq "002 without impermanence" (removeAttrs (configOf s002noSwitch) [ "mounts" ]) {
      args = args s002noSwitch; persisted = [ ]; persist_dir = null; persistence = [ ]; must_persist = [ ];
      stores = [ ]; targets = [ { mount_point = "/"; args = args s002noSwitch; stage = "initrd"; } ];
    })
    # config.json: every persisted path with its persistent copy, and the key files named
    (clean "persistence and secrets" persistAll)
    (eq "all: persist_dir (the first enabled location)" configAll.persist_dir "/persist")
    (eq "all: persistence" configAll.persistence [
      { path = "/etc/nixos"; stored = "/persist/etc/nixos"; }
      { path = "/var/db/sudo"; stored = "/persist/var/db/sudo"; }
      { path = "/var/lib/bluetooth"; stored = "/persist/var/lib/bluetooth"; }
      { path = "/etc/machine-id"; stored = "/persist/etc/machine-id"; }
      { path = "/etc/ssh/ssh_host_ed25519_key"; stored = "/persist/etc/ssh/ssh_host_ed25519_key"; }
      { path = "/home/alice/Documents"; stored = "/persist/home/alice/Documents"; }
      { path = "/var/lib/x"; stored = "/persist/elsewhere/var/lib/x"; }
      { path = "/var/lib/foo"; stored = "/state/var/lib/foo"; }
      { path = "/var/lib/bar"; stored = "/state/var/lib/bar"; }
      { path = "/home/bob/.ssh"; stored = "/state/home/bob/.ssh"; }
      { path = "/etc/machine-id"; stored = "/state/etc/machine-id"; }
    ])
    (eq "all: persisted (unique)" configAll.persisted [
      "/etc/nixos" "/var/db/sudo" "/var/lib/bluetooth" "/etc/machine-id" "/etc/ssh/ssh_host_ed25519_key"
      "/home/alice/Documents" "/var/lib/x" "/var/lib/foo" "/var/lib/bar" "/home/bob/.ssh"
    ])
    (eq "all: must_persist" configAll.must_persist [
      "/etc/ssh/ssh_host_rsa_key" "/etc/ssh/ssh_host_ed25519_key" "/var/lib/sops-nix/key.txt" "/var/lib/sops/gnupg"
      "/persist/etc/ssh/ssh_host_ed25519_key" "/etc/age/identity"
    ])
    # impermanence's users.<name>.home is a removed option (reading it throws); its entries carry
    # the absolute path, so the helper never reads it (the stand-in option type would).
    (eq "impermanence users: home never read" (h.storeEntries {
      "/persist" = {
        persistentStoragePath = "/persist";
        users.carol = {
          home = throw "users.carol.home was read";
          files = [ { file = ".netrc"; filePath = "/home/carol/.netrc"; persistentStoragePath = "/persist"; } ];
        };
      };
    }) [ { path = "/home/carol/.netrc"; stored = "/persist/home/carol/.netrc"; } ])
    (eq "preservation.enable = false persists nothing" (lib.filter (p: lib.hasPrefix "/var/lib/foo" p) (configOf preservationOff).persisted) [ ])
    (eq "preservation alone: persist_dir" (configOf (evalWith { withPreservation = true; } [ seeds.seed002 seeds.preservation ])).persist_dir "/state")
    (eq "sshd off, nothing set: no key files" (configOf secretsUnset).must_persist [ ])
    # the no-wipe entry: a specialisation, and inside it no rollback and no status check
    (clean "no-wipe" noWipe)
    (eq "no-wipe specialisation" (lib.attrNames noWipe.specialisation) [ "no-wipe" ])
    (eq "no-wipe inherits the parent" noWipeSpec.inheritParentConfig true)
    (eq "no-wipe: the parent rolls back" (lib.attrNames noWipe.boot.initrd.systemd.services) [ "blankroot" ])
    (clean "no-wipe inside" noWipeInside)
    (eq "no-wipe inside: no rollback unit" noWipeInside.boot.initrd.systemd.services { })
    (eq "no-wipe inside: no status unit (even with statusCheck = true)" noWipeInside.systemd.services { })
    (eq "no-wipe inside: tagged" noWipeInside.system.nixos.tags [ "no-wipe" ])
    (eq "no-wipe inside: config.json as the parent's" (configOf noWipeInside) (configOf noWipe))
    (check "no-wipe inside: blankroot on PATH" (has package noWipeInside.environment.systemPackages) "no package")
    (eq "no-wipe inside, scripted: no rollback" [ noWipeScripted.boot.initrd.postResumeCommands noWipeScripted.boot.initrd.extraUtilsCommands ] [ "" "" ])
    (eq "no-wipe off by default" s002.specialisation { })
    (eq "no-wipe named" (lib.attrNames noWipeNamed.specialisation) [ "keep-root" ])
    (eq "no-wipe named: tag" noWipeNamed.specialisation.keep-root.configuration.system.nixos.tags [ "keep-root" ])
    (assertionLike "no-wipe bad name" noWipeBadName "boot.blankroot.noWipeEntry.name")
    (clean "no-wipe without the specialisation option" noWipeNoOption)
    # boot-complete.target: always ordered before it; required by it with boot counting
    (eq "status before boot-complete" (status s002).before [ "sysinit.target" "boot-complete.target" "shutdown.target" ])
    (eq "no counting: not required" (status s002).requiredBy [ ])
    (eq "systemd-boot counting: required" (status countOn).requiredBy [ "boot-complete.target" ])
    (eq "systemd-boot counting: assessment on" countOn.boot.blankroot.bootAssessment true)
    (eq "counting set, systemd-boot off: not required" (status countOffSdBoot).requiredBy [ ])
    (eq "systemd-boot without counting: not required" (status countOff).requiredBy [ ])
    (eq "lanzaboote counting: required" (status countLanza).requiredBy [ "boot-complete.target" ])
    (eq "lanzaboote initialTries = 0: not required" (status countLanzaZero).requiredBy [ ])
    (eq "bootAssessment = false: not required" (status countOptedOut).requiredBy [ ])
    # boot.blankroot.targets: nothing changes for / when none is added (the golden unit above);
    # /home on the root's LUKS device: in the initrd, after the root, before sysroot.mount
    (clean "targets: /home" home002)
    (eq "targets: /home in config.json" (configOf home002).targets [
      { mount_point = "/"; args = args s002; stage = "initrd"; }
      { mount_point = "/home"; args = homeArgs; stage = "initrd"; }
    ])
    (eq "targets: / unchanged" (args home002) (args s002))
    (eq "targets: /home initrd unit ExecStart" home002.boot.initrd.systemd.services.blankroot-home.serviceConfig.ExecStart
      "${bin} rollback ${utils.escapeSystemdExecArgs homeArgs}")
    (eq "targets: /home initrd unit after" home002.boot.initrd.systemd.services.blankroot-home.after [
      "${utils.escapeSystemdPath seeds.uuid}.device" "systemd-cryptsetup@enc.service" "blankroot.service" "local-fs-pre.target" "systemd-hibernate-resume.service" "systemd-modules-load.service"
    ])
    (eq "targets: /home initrd unit before" home002.boot.initrd.systemd.services.blankroot-home.before [ "sysroot.mount" "shutdown.target" ])
    (eq "targets: /home initrd unit once per boot" home002.boot.initrd.systemd.services.blankroot-home.unitConfig.ConditionPathExists "!/run/blankroot/status.home.json")
    (eq "targets: /home initrd unit wanted (continue)" home002.boot.initrd.systemd.services.blankroot-home.wantedBy [ "sysroot.mount" "initrd.target" ])
    (eq "targets: no stage-2 unit for an initrd target" (home002.systemd.services ? blankroot-home) false)
    # /home on a device only crypttab opens: a unit of the booted system before home.mount
    (clean "targets: /home in stage 2" homeStage2)
    (eq "targets: stage 2 in config.json" (lib.elemAt (configOf homeStage2).targets 1).stage "booted")
    (eq "targets: stage-2 unit after its device" homeStage2.systemd.services.blankroot-home.after [ "dev-mapper-crypthome.device" "systemd-cryptsetup@crypthome.service" ])
    (eq "targets: stage-2 unit requires its device" homeStage2.systemd.services.blankroot-home.requires [ "dev-mapper-crypthome.device" ])
    (eq "targets: stage-2 unit before home.mount" homeStage2.systemd.services.blankroot-home.before [ "home.mount" "local-fs.target" "shutdown.target" ])
    (eq "targets: stage-2 unit wanted by home.mount" homeStage2.systemd.services.blankroot-home.wantedBy [ "home.mount" ])
    (check "targets: stage-2 unit runs with --before-mount" (lib.hasPrefix "${bin} rollback ${utils.escapeSystemdExecArgs [ "--before-mount" "--mount-point" "/home" ]} " homeStage2.systemd.services.blankroot-home.serviceConfig.ExecStart) homeStage2.systemd.services.blankroot-home.serviceConfig.ExecStart)
    (eq "targets: stage-2 unit never in the initrd" (homeStage2.boot.initrd.systemd.services ? blankroot-home) false)
    (eq "targets: the status check waits for it" (lib.elem "blankroot-home.service" homeStage2.systemd.services.blankroot-status.after) true)
    (eq "targets: stop: home.mount requires it" [ homeStop.systemd.services.blankroot-home.requiredBy homeStop.systemd.services.blankroot-home.wantedBy ] [ [ "home.mount" ] [ ] ])
    (check "targets: delete mode per target" (!(lib.elem "--archive-dir" (lib.elemAt (configOf homeStop).targets 1).args)) "archive.enable = false")
    # ZFS: rpool/safe/home in the root's pool, in the initrd after the import
    (clean "targets: ZFS /home" home000)
    (eq "targets: ZFS /home args" (lib.elemAt (configOf home000).targets 1).args [
      "--mount-point" "/home" "--fs" "zfs" "--dataset" "rpool/safe/home" "--snapshot" "blank" "--archive-dir" "rpool/safe/old_home" "--keep" "3" "--keep-days" "14"
    ])
    (check "targets: ZFS /home after the import" (lib.elem "zfs-import-rpool.service" home000.boot.initrd.systemd.services.blankroot-home.after) (builtins.toJSON home000.boot.initrd.systemd.services.blankroot-home.after))
    # the #231 trap: a store on a wiped filesystem is refused before anything is built
    (refused "#231: store inside the wiped /home" trap231 "the persistent store /home/persist lies on /home, which is wiped at every boot")
    (refused "#231: store on the wiped /" trap231root "the persistent store /keep lies on /, which is wiped at every boot")
    (clean "#231: store on its own subvolume inside /home" safe231)
    (eq "#231: its mount is protected from /home's rollback" (lib.elem "home-persist" (lib.elemAt (configOf safe231).targets 1).args) true)
    # refusals that name the option and the fix
    (refused "targets: no fileSystems entry" noFs ''boot.blankroot.targets."/srv": there is no fileSystems entry mounted on /srv; add fileSystems."/srv"'')
    (refused "targets: two targets on one subvolume" twice "/home and /home2 are the same subvolume")
    (refused "targets: a target inside another" nestedTarget "the target /home/alice lies inside the target /home")
    (refused "targets: a mounted subvolume inside a target" nestedSubvol "the subvolume of /srv (home/srv) lies inside that of the target /home (home) and would be erased with it")
    (refused "targets: / is not a target" rootTarget ''boot.blankroot.targets."/": / is configured by boot.blankroot.* itself'')
    (refused "targets: a tmpfs target" tmpfsTarget "only btrfs and zfs targets can be rolled back")
    # boot.blankroot.metrics: off by default; on, a unit after the status check (never requiring
    # it) that records a check and writes the metrics file whole, at boot and hourly.
    (eq "metrics off by default" (s002.systemd.services ? blankroot-metrics) false)
    (clean "metrics on" metricsOn)
    (eq "metrics unit ExecStart" (metricsUnit metricsOn).serviceConfig.ExecStart "${bin} status --format prometheus --output /var/lib/prometheus-node-exporter-text-files/blankroot.prom")
    (eq "metrics unit check first, its findings not a failure" (metricsUnit metricsOn).serviceConfig.ExecStartPre [ "-${bin} check --record /run/blankroot/check.json" ])
    (eq "metrics unit order" (metricsUnit metricsOn).after [ "blankroot-status.service" "local-fs.target" ])
    (eq "metrics unit never requires the status check" ((metricsUnit metricsOn).requires ++ (metricsUnit metricsOn).wants) [ ])
    (eq "metrics unit at boot" (metricsUnit metricsOn).wantedBy [ "multi-user.target" ])
    (eq "metrics unit hourly" (metricsUnit metricsOn).startAt [ "hourly" ])
    (eq "metrics once per boot, no check, own directory" [ (metricsUnit metricsOnce).startAt (metricsUnit metricsOnce).serviceConfig.ExecStartPre (metricsUnit metricsOnce).serviceConfig.ExecStart ] [ [ ] [ ] "${bin} status --format prometheus --output /srv/textfile/blankroot.prom" ])
    (eq "statusCheck = false: no unit" countNoStatus.systemd.services { })
    # mount options: device= and degraded from fileSystems."/".options, nothing else
    (clean "raid1" raid1)
    (eq "raid1 mountOptions" raid1.boot.blankroot.mountOptions [ "device=/dev/vdb" "device=/dev/vdc" ])
    (eq "raid1 args" (args raid1) ([
      "--fs" "btrfs" "--device" "/dev/vdb" "--subvolume" "root" "--blank" "root-blank" "--protect" "persist"
      "--mount-options" "device=/dev/vdb,device=/dev/vdc"
    ] ++ archiveArgs))
    (eq "raid1 waits for the other member" (unit raid1).wants [ "dev-vdc.device" ])
    (eq "raid1 after" (unit raid1).after ([ "dev-vdb.device" "dev-vdc.device" ] ++ base))
    (eq "raid1 requires only the root device" (unit raid1).requires [ "dev-vdb.device" ])
    (clean "raid1 degraded" raid1Degraded)
    (eq "degraded mountOptions" raid1Degraded.boot.blankroot.mountOptions [ "device=/dev/vdb" "degraded" ])
    (check "degraded args" (infix [ "--mount-options" "device=/dev/vdb,degraded" ] (args raid1Degraded)) (builtins.toJSON (args raid1Degraded)))
    (eq "degraded: waits for no member" (unit raid1Degraded).wants [ ])
    (eq "002: no mount options" [ s002.boot.blankroot.mountOptions (lib.elem "--mount-options" (args s002)) (unit s002).wants ] [ [ ] false [ ] ])
    (assertionLike "subvolid= in mountOptions" badMountOptions "never subvol= or subvolid=")
    (assertionLike "mountOptions with ZFS" zfsMountOptions "for Btrfs only")
    (eq "000: no mount options" z000.boot.blankroot.mountOptions [ ])
    # onFailure
    (eq "stop requiredBy" (unit s002stop).requiredBy [ "sysroot.mount" "initrd.target" ])
    (eq "stop wantedBy" (unit s002stop).wantedBy [ ])
    # scripted stage 1
    (eq "scripted: no unit" s002scripted.boot.initrd.systemd.services { })
    (check "scripted extraUtils" (lib.hasInfix "copy_bin_and_libs ${bin}" s002scripted.boot.initrd.extraUtilsCommands) "no copy_bin_and_libs")
    (check "scripted test" (lib.hasInfix "$out/bin/blankroot --version" s002scripted.boot.initrd.extraUtilsCommandsTest) "no --version test")
    (check "scripted call" (lib.hasInfix "blankroot rollback ${lib.escapeShellArgs (args s002scripted)} ||" s002scripted.boot.initrd.postResumeCommands) "no rollback call")
    (check "scripted by PATH" (!(lib.hasInfix "/nix/store" s002scripted.boot.initrd.postResumeCommands)) "a store path in postResumeCommands")
    (check "scripted waits" (lib.hasInfix "waitDevice ${lib.escapeShellArg seeds.uuid}" s002scripted.boot.initrd.postResumeCommands) "no waitDevice")
    (check "scripted stop" (lib.hasInfix "; fail" s002scripted.boot.initrd.postResumeCommands) "onFailure = stop does not call fail")
    # archive
    (check "archive args" (infix [ "--archive-dir" "old_roots" "--keep" "5" "--keep-days" "14" ] (args s002archive)) (builtins.toJSON (args s002archive)))
    # root on /dev/mapper/<luks>: only that container, escaped
    (eq "mapper after" (unit s002mapper).after ([ "dev-mapper-crypt\\x2droot.device" "systemd-cryptsetup@crypt\\x2droot.service" ] ++ base))
    # device set by hand to the container: the other subvolumes are still found by fileSystems."/"'s device
    (eq "explicit device protect" s002explicit.boot.blankroot.protect [ "home" "nix" "persist" "log" ])
    (eq "explicit device after" (unit s002explicit).after ([ "dev-mapper-enc.device" "systemd-cryptsetup@enc.service" ] ++ base))
    (eq "explicit device before" (unit s002explicit).before (unit s002).before)
    # itsdrike's NixOS guide (its "Impermanence" chapter): empty root, two LUKS devices, root on /dev/mapper/cryptfs
    (clean "004" s004)
    (eq "004 args" (args s004) ([ "--fs" "btrfs" "--device" "/dev/mapper/cryptfs" "--subvolume" "root" "--empty" "--protect" "nix" "--protect" "persist" ] ++ archiveArgs))
    (eq "004 after" (unit s004).after ([ "dev-mapper-cryptfs.device" "systemd-cryptsetup@cryptfs.service" ] ++ base))
    (eq "004 before" (unit s004).before [ "sysroot.mount" "sysroot-nix.mount" "sysroot-persist.mount" "shutdown.target" ])
    # subvol=/@ and UUID= tags
    (clean "@" at)
    (eq "@ args" (args at) ([
      "--fs" "btrfs" "--device" "/dev/disk/by-uuid/5a5a5a5a-1111-2222-3333-444444444444" "--subvolume" "@" "--blank" "@-blank"
      "--protect" "@home" "--protect" "@persist"
    ] ++ archiveArgs))
    (eq "@ requires" (unit at).requires [ "dev-disk-by\\x2duuid-5a5a5a5a\\x2d1111\\x2d2222\\x2d3333\\x2d444444444444.device" ])
    # ZFS seeds
    (clean "000" z000)
    (eq "000 args" (args z000) [
      "--fs" "zfs" "--dataset" "rpool/local/root" "--snapshot" "blank"
      "--archive-dir" "rpool/local/old_roots" "--keep" "3" "--keep-days" "14"
    ])
    (eq "000 delete mode" (args z000delete) [ "--fs" "zfs" "--dataset" "rpool/local/root" "--snapshot" "blank" ])
    (eq "000 requires" (unit z000).requires [ "zfs-import-rpool.service" ])
    (eq "000 after" (unit z000).after ([ "zfs-import-rpool.service" ] ++ base))
    (eq "000 before" (unit z000).before [ "sysroot.mount" "sysroot-nix.mount" "sysroot-persist.mount" "shutdown.target" ])
    (clean "001" z001)
    (eq "001 after" (unit z001).after ([ "zfs-import-rpool.service" "systemd-cryptsetup@cryptroot.service" ] ++ base))
    (check "001 scripted" (lib.hasInfix "blankroot rollback ${lib.escapeShellArgs (args z001scripted)} ||" z001scripted.boot.initrd.postResumeCommands) "no ZFS rollback call")
    (eq "001 scripted args" (lib.take 6 (args z001scripted)) [ "--fs" "zfs" "--dataset" "rpool/local/root" "--snapshot" "blank" ])
    (check "001 scripted no wait" (!(lib.hasInfix "waitDevice" z001scripted.boot.initrd.postResumeCommands)) "ZFS has no device to wait for")
    (assertionLike "zfs hibernation" zHibernate "boot.zfs.forceImportRoot")
    # refusals
    (assertionLike "tmpfs" tmpfs "nothing to roll back")
    (assertionLike "ext4" ext4 ''"ext4"'')
    (assertionLike "subvolid" subvolid "subvolid=")
    (assertionLike "blank == root" blankIsRoot "boot.blankroot.blankSnapshot")
    (assertionLike "nested" nested ''fileSystems."/home" lies inside the root subvolume'')
    (check "subvolid other" (lib.any (lib.hasInfix ''fileSystems."/home"'') otherById.warnings) "no warning for subvolid= on /home")
    (eq "disabled" [ disabled.boot.initrd.systemd.services disabled.environment.etc (failed disabled) ] [ { } { } [ ] ])
  ]
  # With nixpkgs' files: its serviceToUnit and the project's renderer write the same text, the
  # unit passes nixpkgs' own option types (unit names, Type=) and uses no job script, and the
  # escaping stand-ins agree with nixpkgs' utils.nix.
  ++ lib.optionals (real != null) (
    lib.concatLists (
      lib.mapAttrsToList (
        n: r:
        check "${n}: the project's unit renderer agrees with nixpkgs' serviceToUnit" (r.ours == r.nixpkgs)
          "nixpkgs:\n${r.nixpkgs}\nours:\n${r.ours}"
        ++ eq "${n}: no script, no path (nixpkgs' types)" [ r.service.script r.service.path r.service.jobScripts ] [ "" [ ] [ ] ]
      ) rendered
    )
    ++ eq "escapeSystemdPath stand-in = nixpkgs' utils.nix" (map escape.escapeSystemdPath escapeInputs) (
      map real.utils.escapeSystemdPath escapeInputs
    )
    ++ eq "escapeSystemdExecArgs stand-in = nixpkgs' utils.nix" (map escape.escapeSystemdExecArgs execArgsInputs) (
      map real.utils.escapeSystemdExecArgs execArgsInputs
    )
  );
in
{
  inherit failures renderedBy;
  golden = goldenHeader + norm (if real == null then rendered.seed002.ours else rendered.seed002.nixpkgs);
  # Every rendered unit, to look at (nixpkgs' text when its files are at hand).
  units = lib.mapAttrs (_: r: norm (r.nixpkgs or r.ours)) rendered;
  # The initrd unit of a /home target, as nixpkgs' serviceToUnit writes it (null without nixpkgs).
  homeUnit =
    if real == null then
      null
    else
      norm (real.unitText (evalReal [ seeds.seed002 { boot.blankroot.targets."/home" = { }; } ]).boot.initrd.systemd.services.blankroot-home);
  # The stage-2 blankroot-status.service with boot counting on, by the project's renderer
  # (nixpkgs' stage-2 service type reaches for pkgs: its default `path`).
  statusUnits = lib.mapAttrs (_: c: norm (renderUnit (status c))) {
    seed002 = s002;
    counting = countOn;
  };
  # Shell fragments, for `sh -n` and shellcheck in check.sh.
  scripts = {
    postResume = s002scripted.boot.initrd.postResumeCommands;
    postResumeZfs = z001scripted.boot.initrd.postResumeCommands;
    preSwitch = s002.system.preSwitchChecks.blankroot;
    preSwitchEnforce = s002enforce.system.preSwitchChecks.blankroot;
  } // lib.optionalAttrs (upstreamModules != null) {
    # The whole pre-switch script as nixpkgs' pre-switch-check.nix writes it.
    preSwitchUpstream = s002.system.preSwitchChecks.script;
    preSwitchEnforceUpstream = s002enforce.system.preSwitchChecks.script;
  };
  # The store path of the binary in the scripts, for check.sh to replace with a stand-in.
  inherit bin;
  escapes = map escape.escapeSystemdPath [ seeds.uuid "/sysroot/var/log" "/" ];
  # For the root-only check: each case's arguments and ExecStart line (Btrfs on a loop device,
  # ZFS on a file-backed zfs-fuse pool).
  # A multi-device case names the filesystem's members ({ config; members; }): loop_case.py makes
  # it over that many loop devices and removes the members the arguments do not name (degraded).
  rootCases = lib.mapAttrs (_: v: let c = v.config or v; in {
    args = v.args or (args c);
    execStart = v.execStart or (unit c).serviceConfig.ExecStart;
    members = v.members or null;
    inherit bin;
  }) {
    # boot.blankroot.targets: the units' own command lines (the booted one with --before-mount).
    homeTarget = {
      args = (lib.elemAt (configOf home002).targets 1).args;
      execStart = home002.boot.initrd.systemd.services.blankroot-home.serviceConfig.ExecStart;
    };
    homeStage2 = {
      args = [ "--before-mount" ] ++ (lib.elemAt (configOf homeStage2).targets 1).args;
      execStart = homeStage2.systemd.services.blankroot-home.serviceConfig.ExecStart;
    };
    zfsHome = {
      args = (lib.elemAt (configOf home000).targets 1).args;
      execStart = home000.boot.initrd.systemd.services.blankroot-home.serviceConfig.ExecStart;
    };
    seed002 = s002;
    seed002archive = s002archive;
    seed002delete = s002delete;
    raid1 = { config = raid1; members = [ "/dev/vdb" "/dev/vdc" ]; };
    raid1Degraded = { config = raid1Degraded; members = [ "/dev/vdb" "/dev/vdc" ]; };
    seed004 = s004;
    at = at;
    zfs000 = z000;
    zfs000delete = z000delete;
  };
}
