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
}:
let
  escape = import ./systemd-escape.nix { inherit lib; };
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
        (import ./stubs.nix stubArgs)
        ../../nixos-module
        {
          _module.args = {
            inherit utils;
            pkgs = { };
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
  s002noSwitch = evalWith { withPreSwitchChecks = false; } [ seeds.seed002 ];
  s002stop = eval [ seeds.seed002 { boot.blankroot.onFailure = "stop"; } ];
  s002scripted = eval [ seeds.seed002 { boot.initrd.systemd.enable = false; boot.blankroot.onFailure = "stop"; } ];
  s002archive = eval [ seeds.seed002 { boot.blankroot.archive = { enable = true; keep = 5; }; } ];
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
  z000archive = eval [ seeds.seed000 { boot.blankroot.archive = { enable = true; keep = 3; }; } ];
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

  config002 = builtins.fromJSON s002.environment.etc."blankroot/config.json".text;

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
    seed002archive = [ seeds.seed002 { boot.blankroot.archive = { enable = true; keep = 5; }; } ];
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
    # boot.initrd.systemd.services.blankroot for seed 002 (btrfs on LUKS "enc"), as NixOS writes it
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
    # seed 002: everything derived from fileSystems."/" and boot.initrd.luks
    (clean "002" s002)
    (eq "002 args" (args s002) [
      "--fs" "btrfs" "--device" seeds.uuid "--subvolume" "root" "--blank" "root-blank"
      "--protect" "home" "--protect" "nix" "--protect" "persist" "--protect" "log"
    ])
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
    (check "002 preSwitchChecks" (lib.hasInfix "${bin} check ${lib.escapeShellArgs (args s002)}" s002.system.preSwitchChecks.blankroot) "no blankroot check in system.preSwitchChecks")
    (check "002 preSwitchChecks warns" (!(lib.hasInfix "exit 1" s002.system.preSwitchChecks.blankroot)) "default preSwitchCheck must not be fatal")
    (eq "002 without preSwitchChecks" (failed s002noSwitch) [ ])
    (eq "002 without impermanence" (builtins.fromJSON s002noSwitch.environment.etc."blankroot/config.json".text).persisted [ ])
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
    (check "archive args" (infix [ "--archive-dir" "old_roots" "--keep" "5" "--keep-days" "30" ] (args s002archive)) (builtins.toJSON (args s002archive)))
    # root on /dev/mapper/<luks>: only that container, escaped
    (eq "mapper after" (unit s002mapper).after ([ "dev-mapper-crypt\\x2droot.device" "systemd-cryptsetup@crypt\\x2droot.service" ] ++ base))
    # device set by hand to the container: the other subvolumes are still found by fileSystems."/"'s device
    (eq "explicit device protect" s002explicit.boot.blankroot.protect [ "home" "nix" "persist" "log" ])
    (eq "explicit device after" (unit s002explicit).after ([ "dev-mapper-enc.device" "systemd-cryptsetup@enc.service" ] ++ base))
    (eq "explicit device before" (unit s002explicit).before (unit s002).before)
    # seed 004: empty root, two LUKS devices, root on /dev/mapper/cryptfs
    (clean "004" s004)
    (eq "004 args" (args s004) [ "--fs" "btrfs" "--device" "/dev/mapper/cryptfs" "--subvolume" "root" "--empty" "--protect" "nix" "--protect" "persist" ])
    (eq "004 after" (unit s004).after ([ "dev-mapper-cryptfs.device" "systemd-cryptsetup@cryptfs.service" ] ++ base))
    (eq "004 before" (unit s004).before [ "sysroot.mount" "sysroot-nix.mount" "sysroot-persist.mount" "shutdown.target" ])
    # subvol=/@ and UUID= tags
    (clean "@" at)
    (eq "@ args" (args at) [
      "--fs" "btrfs" "--device" "/dev/disk/by-uuid/5a5a5a5a-1111-2222-3333-444444444444" "--subvolume" "@" "--blank" "@-blank"
      "--protect" "@home" "--protect" "@persist"
    ])
    (eq "@ requires" (unit at).requires [ "dev-disk-by\\x2duuid-5a5a5a5a\\x2d1111\\x2d2222\\x2d3333\\x2d444444444444.device" ])
    # ZFS seeds
    (clean "000" z000)
    (eq "000 args" (args z000) [ "--fs" "zfs" "--dataset" "rpool/local/root" "--snapshot" "blank" ])
    (eq "000 archive args" (args z000archive) [
      "--fs" "zfs" "--dataset" "rpool/local/root" "--snapshot" "blank"
      "--archive-dir" "rpool/local/old_roots" "--keep" "3" "--keep-days" "30"
    ])
    (eq "000 requires" (unit z000).requires [ "zfs-import-rpool.service" ])
    (eq "000 after" (unit z000).after ([ "zfs-import-rpool.service" ] ++ base))
    (eq "000 before" (unit z000).before [ "sysroot.mount" "sysroot-nix.mount" "sysroot-persist.mount" "shutdown.target" ])
    (clean "001" z001)
    (eq "001 after" (unit z001).after ([ "zfs-import-rpool.service" "systemd-cryptsetup@cryptroot.service" ] ++ base))
    (check "001 scripted" (lib.hasInfix "blankroot rollback --fs zfs --dataset rpool/local/root --snapshot blank ||" z001scripted.boot.initrd.postResumeCommands) "no ZFS rollback call")
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
  # Shell fragments, for `sh -n` and shellcheck in check.sh.
  scripts = {
    postResume = s002scripted.boot.initrd.postResumeCommands;
    postResumeZfs = z001scripted.boot.initrd.postResumeCommands;
    preSwitch = s002.system.preSwitchChecks.blankroot;
  };
  escapes = map escape.escapeSystemdPath [ seeds.uuid "/sysroot/var/log" "/" ];
  # For the root-only check: each case's arguments and ExecStart line (Btrfs on a loop device,
  # ZFS on a file-backed zfs-fuse pool).
  rootCases = lib.mapAttrs (_: c: {
    args = args c;
    execStart = (unit c).serviceConfig.ExecStart;
    inherit bin;
  }) {
    seed002 = s002;
    seed002archive = s002archive;
    seed004 = s004;
    at = at;
    zfs000 = z000;
    zfs000archive = z000archive;
  };
}
