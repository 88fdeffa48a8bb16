# Pure helpers: how boot.blankroot derives its defaults from fileSystems and boot.initrd.luks,
# and the command line the initrd runs. No option declarations here; tests/nix/eval.nix and the
# module both use these.
{ lib, utils }:
let
  inherit (lib)
    concatMap
    filter
    findFirst
    hasPrefix
    head
    optional
    optionals
    removePrefix
    removeSuffix
    splitString
    ;
in
rec {
  # Mount options may be given as one comma-separated string per element.
  optionWords = fs: concatMap (splitString ",") (fs.options or [ ]);

  # The value of the first `key=` option, or null.
  optionValue =
    key: fs:
    let
      hit = findFirst (hasPrefix "${key}=") null (optionWords fs);
    in
    if hit == null then null else removePrefix "${key}=" hit;

  # Btrfs names are relative to the top level: `subvol=/@` means `@`, `subvol=/` the top level.
  normaliseName =
    s:
    let
      stripped = removeSuffix "/" (removePrefix "/" s);
    in
    if s == null then
      null
    else if stripped == s then
      s
    else
      normaliseName stripped;

  subvolOf =
    fs:
    let
      v = optionValue "subvol" fs;
    in
    if v == null then null else normaliseName v;

  hasSubvolid = fs: optionValue "subvolid" fs != null;

  # fstab tags become the /dev/disk/by-* paths systemd's fstab generator waits for.
  devicePath =
    d:
    let
      tag = t: dir: if hasPrefix "${t}=" d then "/dev/disk/${dir}/${removePrefix "${t}=" d}" else null;
      found = filter (x: x != null) [
        (tag "UUID" "by-uuid")
        (tag "LABEL" "by-label")
        (tag "PARTUUID" "by-partuuid")
        (tag "PARTLABEL" "by-partlabel")
      ];
    in
    if d == null then null else if found != [ ] then head found else d;

  # The entry mounted on "/" (fileSystems is keyed by name, the mount point can differ).
  rootFs =
    fileSystems:
    let
      all = filter (fs: fs.mountPoint == "/") (lib.attrValues fileSystems);
    in
    if all == [ ] then null else head all;

  others = fileSystems: filter (fs: fs.mountPoint != "/") (lib.attrValues fileSystems);

  # `devices`: the names the root's device goes by (boot.blankroot.device, fileSystems."/".device).
  sameBtrfs = devices: fs: (fs.fsType or "") == "btrfs" && lib.elem (devicePath (fs.device or null)) devices;

  rootDevices =
    { fileSystems, device }:
    let
      r = rootFs fileSystems;
    in
    lib.unique (filter (d: d != null) [
      device
      (if r == null then null else devicePath (r.device or null))
    ]);

  poolOf = dataset: if dataset == null then null else head (splitString "/" dataset);

  sameZfs = pool: fs: (fs.fsType or "") == "zfs" && poolOf (fs.device or null) == pool && pool != null;

  # Subvolumes of every other filesystem on the root's device: the rollback refuses to run if one of
  # them is inside the root (it would be erased).
  defaultProtect =
    { fileSystems, device, subvolume }:
    lib.unique (
      filter (s: s != null && s != subvolume) (
        map subvolOf (filter (sameBtrfs (rootDevices { inherit fileSystems device; })) (others fileSystems))
      )
    );

  # Other filesystems on the root's device that name their subvolume by id: not checkable.
  subvolidOthers =
    { fileSystems, device }:
    filter hasSubvolid (filter (sameBtrfs (rootDevices { inherit fileSystems device; })) (others fileSystems));

  # Other filesystems whose subvolume lies inside the root subvolume: erased at every boot.
  nestedInRoot =
    { fileSystems, device, subvolume }:
    filter (
      fs:
      let
        s = subvolOf fs;
      in
      s != null && subvolume != null && hasPrefix "${subvolume}/" s
    ) (filter (sameBtrfs (rootDevices { inherit fileSystems device; })) (others fileSystems));

  # LUKS devices that may back the root: the one the root device names when it is
  # /dev/mapper/<name>, otherwise every configured device (the root may sit on any of them, e.g.
  # by-uuid of the filesystem inside the container, as in "Full Disk Encryption and Impermanence on NixOS" (2025)).
  luksBacking =
    { luksDevices, device }:
    let
      names = lib.attrNames luksDevices;
      mapped = if device != null && hasPrefix "/dev/mapper/" device then removePrefix "/dev/mapper/" device else null;
    in
    if mapped != null && lib.elem mapped names then [ mapped ] else names;

  # "/sysroot<mountpoint>.mount" for every filesystem in `list` that the initrd mounts.
  sysrootUnits =
    list:
    concatMap (
      fs:
      [ "${utils.escapeSystemdPath ("/sysroot" + fs.mountPoint)}.mount" ]
      ++ optional (fs.mountPoint == "/usr") "sysusr-usr.mount"
    ) list;

  # nixpkgs' utils.fsNeededForBoot (nixos/lib/utils.nix); the same rule where utils lacks it.
  neededForBoot =
    utils.fsNeededForBoot or (
      fs:
      (fs.neededForBoot or false)
      || lib.elem fs.mountPoint [
        "/"
        "/nix"
        "/nix/store"
        "/var"
        "/var/log"
        "/var/lib"
        "/var/lib/nixos"
        "/etc"
        "/usr"
      ]
    );

  # Btrfs: the options of the root's own mount that the top-level mount needs as well: the member
  # devices of a multi-device filesystem (`device=`) and `degraded`. Never `subvol=`/`subvolid=`
  # (the top-level mount is `subvolid=5`; the binary refuses them in --mount-options).
  topMountOptions = fs: filter (w: hasPrefix "device=" w || w == "degraded") (optionWords fs);

  # The member devices named by `device=` options, as paths.
  mountDevices = opts: map (removePrefix "device=") (filter (hasPrefix "device=") opts);

  # The words after `blankroot rollback`.
  rollbackArgs =
    cfg:
    let
      a = cfg.archive;
      archiveArgs = optionals a.enable (
        [
          "--archive-dir"
          a.directory
        ]
        ++ optionals (a.keep != null) [
          "--keep"
          (toString a.keep)
        ]
        ++ optionals (a.keepDays != null) [
          "--keep-days"
          (toString a.keepDays)
        ]
      );
      common =
        archiveArgs
        ++ optionals (cfg.logLevel != null) [
          "--log-level"
          cfg.logLevel
        ]
        ++ cfg.extraArgs;
    in
    if cfg.fileSystem == "zfs" then
      [
        "--fs"
        "zfs"
        "--dataset"
        (toString cfg.dataset)
        "--snapshot"
        cfg.snapshot
      ]
      ++ common
    else
      [
        "--fs"
        "btrfs"
        "--device"
        (toString cfg.device)
        "--subvolume"
        (toString cfg.subvolume)
      ]
      ++ (
        if cfg.blankSnapshot == null then
          [ "--empty" ]
        else
          [
            "--blank"
            cfg.blankSnapshot
          ]
      )
      ++ concatMap (p: [
        "--protect"
        p
      ]) cfg.protect
      ++ optionals (cfg.minFreeSpace != null) [
        "--min-free-space"
        cfg.minFreeSpace
      ]
      ++ optionals (cfg.mountOptions != [ ]) [
        "--mount-options"
        (lib.concatStringsSep "," cfg.mountOptions)
      ]
      ++ common;

  # What impermanence (environment.persistence) and preservation (preservation.preserveAt)
  # keep: one { path; stored; } per persisted directory or file, `path` the live absolute path,
  # `stored` where its persistent copy lives (persistent storage path + path).
  #
  # Entries come evaluated by those modules (impermanence: attribute sets with dirPath/filePath,
  # the absolute path, and their own persistentStoragePath; preservation: directory/file, made
  # absolute for users, and `how`) or, where the modules' types are not at hand, as written:
  # strings, or attribute sets with directory/file, relative to users.<name>.home for users.
  # preservation's how = "_intermediate" directories are only created, not preserved.
  entryPath =
    kind: home: e:
    let
      raw =
        if builtins.isString e then
          e
        else
          e.${"${if kind == "directory" then "dir" else "file"}Path"} or e.${kind};
    in
    # `home` only for a relative path: impermanence's users.<name>.home is a removed option whose
    # value throws (its entries carry the absolute dirPath/filePath instead).
    if !(hasPrefix "/" raw) && home != null then "${home}/${raw}" else raw;

  joinPath =
    base: path:
    let
      b = removeSuffix "/" (toString base);
    in
    if b == "" then path else "${b}${path}";

  storeEntries =
    stores:
    concatMap (
      name:
      let
        s = stores.${name};
        base = s.persistentStoragePath or name;
        one =
          kind: home: e:
          let
            path = entryPath kind home e;
          in
          {
            inherit path;
            stored = joinPath (if builtins.isAttrs e then e.persistentStoragePath or base else base) path;
          };
        kept = lib.filter (e: !(builtins.isAttrs e && (e.how or "") == "_intermediate"));
        entries =
          home: x:
          map (one "directory" home) (kept (x.directories or [ ])) ++ map (one "file" home) (kept (x.files or [ ]));
      in
      optionals (s.enable or true) (
        entries null s ++ concatMap (u: entries (u.home or null) u) (lib.attrValues (s.users or { }))
      )
    ) (lib.attrNames stores);

  storePaths = stores: map (e: e.path) (storeEntries stores);

  # The first enabled persistent storage location (its attribute name, as `diff --suggest` writes
  # it back), or null.
  firstStore =
    stores:
    let
      names = lib.filter (n: stores.${n}.enable or true) (lib.attrNames stores);
    in
    if names == [ ] then null else head names;
}
