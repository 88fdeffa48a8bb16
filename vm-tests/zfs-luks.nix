# "ZFS with LUKS and Impermanence" (saylesss88, 2026): a ZFS pool inside LUKS "cryptroot", systemd stage 1. The rollback waits for the
# cryptsetup unit and for the pool import. Archive mode (the module's default).
{ lib, helpers, ... }:
let
  zfs = import ./zfs-common.nix { inherit lib; };
in
{
  name = "blankroot-zfs-luks";

  nodes.machine = {
    imports = [ zfs.base ];
    specialisation.luks.configuration = {
      imports = [ zfs.fileSystems ];
      boot.initrd.luks.devices = lib.mkVMOverride { cryptroot.device = "/dev/vdb"; };
      boot.zfs.devNodes = lib.mkForce "/dev/mapper";
      # nixpkgs' zfs-import-<pool> is not ordered after cryptsetup (it polls for up to a minute);
      # order it here so the test does not depend on how fast the passphrase is typed.
      boot.initrd.systemd.services.zfs-import-rpool.after = [ "cryptsetup.target" ];
    };
  };

  testScript = helpers + zfs.script + ''
    machine.start()
    machine.wait_for_unit("multi-user.target")
    machine.succeed(
        f"echo -n {PASSPHRASE} | cryptsetup luksFormat -q --iter-time=1 /dev/vdb -",
        f"echo -n {PASSPHRASE} | cryptsetup luksOpen -q /dev/vdb cryptroot",
    )
    make_pool("/dev/mapper/cryptroot")
    machine.succeed("cryptsetup luksClose cryptroot")
    boot_into("luks", prompt=LUKS_PROMPT)

    assert "rpool/local/root on / type zfs" in machine.succeed("mount")
    assert_status("archived")
    assert_order(["systemd-cryptsetup@cryptroot.service", "zfs-import-rpool.service"])

    for boot in ["one", "two"]:
        plant(boot, nested=False)
        reboot(prompt=LUKS_PROMPT)
        assert_wiped(boot, nested=False)
        assert_status("archived")
        assert_order(["systemd-cryptsetup@cryptroot.service", "zfs-import-rpool.service"])
  '';
}
