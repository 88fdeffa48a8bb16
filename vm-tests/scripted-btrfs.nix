# Scripted stage 1 (boot.initrd.systemd.enable = false), Btrfs: the binary is copied by
# extraUtilsCommands (nuke-refs'd, found through PATH) and runs in postResumeCommands, before the
# root is mounted. Archive mode (the module's default).
{ helpers, ... }:
{
  name = "blankroot-scripted-btrfs";

  nodes.machine = {
    specialisation.scripted.configuration = {
      boot.initrd.systemd.enable = false;
      imports = [ ./btrfs-layout.nix ];
      boot.blankroot.enable = true;
    };
  };

  testScript = helpers + ''
    machine.start()
    machine.wait_for_unit("multi-user.target")
    make_btrfs("/dev/vdb")
    boot_into("scripted")

    assert "(initrd)" not in machine.succeed("systemd-analyze"), "booted with systemd in stage 1"
    assert_status("archived")
    # blankroot writes its kernel log lines itself; stage 1 logs "mounting <dev> on /..." after it.
    assert_kernel_log_order("blankroot:", " on /...")

    for boot in ["one", "two"]:
        plant(boot)
        reboot()
        assert_wiped(boot)
        assert_status("archived")
        assert_kernel_log_order("blankroot:", " on /...")
  '';
}
