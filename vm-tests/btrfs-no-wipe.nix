# boot.blankroot.noWipeEntry (issue 12): the boot menu's "NixOS (no-wipe)" entry, booted once
# with `bootctl set-oneshot`, leaves the root as it is (no blankroot.service in the initrd,
# nothing failed); the next boot wipes again. Under Secure Boot this entry is signed like every
# other one, while an edited kernel command line (rd.blankroot=0) is ignored.
#
# The no-wipe entry is a specialisation of the system that rolls back, so that system must be a
# generation of its own, not a specialisation of the plain VM the test starts in (specialisations
# do not nest). As nixpkgs' systemd-boot boot-counting test does, the plain VM (`machine`) carries
# the blankroot system (`target`, never started as a VM of its own) in its closure and installs it
# as generation 2 (a profile link, then its switch-to-configuration boot).
{ helpers, ... }:
{
  name = "blankroot-btrfs-no-wipe";

  nodes.machine =
    { nodes, ... }:
    {
      system.extraDependencies = [ nodes.target.system.build.toplevel ];
    };

  nodes.target = {
    imports = [ ./btrfs-layout.nix ];
    boot.blankroot.enable = true;
    boot.blankroot.noWipeEntry.enable = true;
    system.switch.enable = true;
  };

  testScript =
    { nodes, ... }:
    helpers
    + ''
      # (`target` is the node's machine object in the driver's namespace: never started)
      target_system = "${nodes.target.system.build.toplevel}"

      machine.start()
      machine.wait_for_unit("multi-user.target")
      make_btrfs("/dev/vdb")
      install_generation(target_system)

      with subtest("the boot menu has the entry, tagged"):
          main = boot_entry(generation=2)
          no_wipe = boot_entry("no-wipe", generation=2)
          assert "no-wipe" in no_wipe.get("version", ""), no_wipe
          assert main["id"] != no_wipe["id"], (main, no_wipe)

      machine.succeed(f"bootctl set-default {main['id']}", "sync")
      machine.crash()
      start()
      assert_status("archived")
      plant("one")

      with subtest("booted once, the no-wipe entry keeps the root"):
          machine.succeed(f"bootctl set-oneshot {no_wipe['id']}", "sync")
          reboot()
          assert "no-wipe" in machine.succeed("cat /run/current-system/nixos-version")
          assert_kept("one")
          machine.succeed("test -d /srv/nested-one")
          assert_no_rollback()
          machine.succeed("test $(systemctl show -p LoadState --value blankroot-status.service) = not-found")
          # the tools and the configuration are there: what the wipe took can be copied back
          machine.succeed("blankroot archives", "test -s /etc/blankroot/config.json")

      with subtest("the next boot wipes again"):
          reboot()
          assert "no-wipe" not in machine.succeed("cat /run/current-system/nixos-version")
          assert_wiped("one")
          assert_status("archived")
          assert_order([])
    '';
}
