# The encrypted pool of "ZFS Impermanence in a VM" (saylesss88, 2026) (zpool create -O encryption=aes-256-gcm -O keyformat=passphrase
# -O keylocation=prompt; issue 12), systemd stage 1: nixpkgs' zfs-import-rpool.service loads the
# key (boot.zfs.requestEncryptionCredentials, on by default) and blankroot runs after it.
# - prompt-delete: the passphrase typed at the console, delete mode, two boots.
# - prompt-archive: the same in archive mode (the module's default): the archive parent and every
#   archive are under the pool's encryption root; `blankroot restore` reads a file back out.
# - keyfile: keylocation=file:// with the key in the initrd, no prompt, archive mode, two boots.
# - late-key: keys not requested at import; a unit after blankroot.service loads the key before
#   the root is mounted. Whether `zfs rollback` needs the key is unverified: the test records what
#   happened and asserts that either outcome is safe (wiped, or failed and nothing lost).
{ lib, helpers, ... }:
let
  zfs = import ./zfs-common.nix { inherit lib; };
  # helpers.py PASSPHRASE (checked by the test script).
  passphrase = "supersecret";
  keyFile = "/etc/zfs/rpool.key";
  spec = extra: {
    imports = [
      zfs.fileSystems
      extra
    ];
  };
  withKeyFile = {
    boot.initrd.systemd.contents.${keyFile}.text = passphrase;
  };
in
{
  name = "blankroot-zfs-encrypted";

  nodes.machine = {
    imports = [ zfs.base ];
    specialisation.prompt-delete.configuration = spec { boot.blankroot.archive.enable = false; };
    specialisation.prompt-archive.configuration = spec { };
    specialisation.keyfile.configuration = spec withKeyFile;
    specialisation.late-key.configuration = spec {
      imports = [ withKeyFile ];
      boot.blankroot.archive.enable = false;
      boot.zfs.requestEncryptionCredentials = false;
      boot.initrd.systemd.services.late-zfs-key = {
        description = "Load the ZFS key only after blankroot ran (test)";
        after = [
          "zfs-import-rpool.service"
          "blankroot.service"
        ];
        before = [
          "sysroot.mount"
          "sysroot-persist.mount"
        ];
        requiredBy = [
          "sysroot.mount"
          "sysroot-persist.mount"
        ];
        unitConfig.DefaultDependencies = false;
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "/bin/zfs load-key rpool";
        };
      };
    };
  };

  testScript = helpers + zfs.script + ''
    assert PASSPHRASE == "${passphrase}"

    def keys_loaded() -> None:
        machine.succeed(
            "test $(zfs get -H -o value encryptionroot rpool/local/root) = rpool",
            "test $(zfs get -H -o value keystatus rpool) = available",
        )

    machine.start()
    machine.wait_for_unit("multi-user.target")
    machine.succeed(
        "parted --script /dev/vdb mklabel gpt",
        "parted --script /dev/vdb -- mkpart primary 1MiB -1s",
        "udevadm settle",
    )
    make_pool("/dev/vdb1", encrypted=True)

    with subtest("passphrase typed, delete mode"):
        boot_into("prompt-delete", prompt=ZFS_PROMPT)
        keys_loaded()
        assert_status("rolled-back")
        assert_order(["zfs-import-rpool.service"])
        plant("one", nested=False)
        reboot(prompt=ZFS_PROMPT)
        assert_wiped("one", nested=False)
        assert_status("rolled-back")
        assert_order(["zfs-import-rpool.service"])

    with subtest("passphrase typed, archive mode"):
        plant("two", nested=False)
        boot_into("prompt-archive", prompt=ZFS_PROMPT)
        assert_wiped("two", nested=False)
        s = assert_status("archived")
        assert_order(["zfs-import-rpool.service"])
        archive = s["archive"]
        assert archive and archive.startswith("rpool/local/old_roots/"), s
        machine.succeed(
            f"test $(zfs get -H -o value encryptionroot {archive}) = rpool",
            "test $(zfs get -H -o value encryptionroot rpool/local/old_roots) = rpool",
        )
        machine.succeed(
            "blankroot restore --to /tmp/back /canary-two",
            "grep -qx two /tmp/back/canary-two",
        )
        plant("three", nested=False)
        reboot(prompt=ZFS_PROMPT)
        assert_wiped("three", nested=False)
        assert_status("archived")
        assert len(machine.succeed("zfs list -H -o name -d 1 rpool/local/old_roots").split()) == 1 + 2

    with subtest("key file in the initrd, archive mode"):
        machine.succeed(
            f"mkdir -p /etc/zfs && echo -n {PASSPHRASE} > ${keyFile}",
            "zfs set keylocation=file://${keyFile} rpool",
        )
        plant("four", nested=False)
        boot_into("keyfile")
        keys_loaded()
        assert_wiped("four", nested=False)
        assert_status("archived")
        assert_order(["zfs-import-rpool.service"])
        plant("five", nested=False)
        reboot()
        assert_wiped("five", nested=False)
        assert_status("archived")

    with subtest("the key loaded only after blankroot ran"):
        plant("late", nested=False)
        boot_into("late-key")
        started, done = jobs()
        assert "late-zfs-key.service" in started, sorted(started)
        assert done["blankroot.service"][0] <= started["late-zfs-key.service"], "the key was loaded before blankroot ran"
        s = status()
        if s["action"] == "rolled-back":
            assert_wiped("late", nested=False)
            print("FINDING: zfs rollback of an encrypted root worked with its key not loaded")
        else:
            assert s["action"] == "failed", s
            assert_kept("late")
            print(f"FINDING: the rollback of an encrypted root needs its key loaded: {s['error']}")
  '';
}
