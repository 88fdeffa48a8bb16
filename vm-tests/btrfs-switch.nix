# The migration of docs/migrate.md on a running system, with a live switch: a Btrfs root that has
# run without blankroot (the specialisation `plain`, booted from the disk the test formats without
# a blank) gets its blank from `blankroot init --config <new system>`, then the same system with
# blankroot enabled (the specialisation `enabled`) is switched to live. That switch must leave no
# failed unit: it starts the new blankroot-status.service, whose `status --check` finds no record
# of this boot and that the booted system (/run/booted-system, the plain one) does not wipe /,
# and passes. The next boot is the first wiped one, in archive mode: the canary is gone from /
# and kept in the archive.
{ helpers, ... }:
{
  name = "blankroot-btrfs-switch";

  nodes.machine = {
    system.switch.enable = true;
    specialisation.plain.configuration.imports = [ ./btrfs-layout.nix ];
    specialisation.enabled.configuration = {
      imports = [ ./btrfs-layout.nix ];
      boot.blankroot.enable = true;
    };
  };

  testScript =
    { nodes, ... }:
    helpers
    + ''
      enabled = "${nodes.machine.system.build.toplevel}/specialisation/enabled"
      new = f"{enabled}/etc/blankroot/config.json"
      br = f"{enabled}/sw/bin/blankroot"

      machine.start()
      machine.wait_for_unit("multi-user.target")
      make_btrfs("/dev/vdb", blank=False)
      boot_into("plain")
      assert "/dev/vdb on / type btrfs" in machine.succeed("mount"), machine.succeed("mount")
      assert_no_rollback()
      machine.fail("test -e /etc/blankroot/config.json")
      plant("one", nested=False)

      with subtest("init makes the blank beside the running root, twice"):
          out = machine.succeed(f"{br} init --config {new}")
          assert "made the blank root-blank" in out, out
          assert "is there already" in machine.succeed(f"{br} init --config {new}")
          top_level("btrfs property get -ts /mnt/top/root-blank ro | grep -qx ro=true")
          machine.succeed("test -e /canary-one")

      with subtest("the switch that enables blankroot leaves no failed unit"):
          # switch-to-configuration exits non-zero when a unit it starts fails
          machine.succeed(f"{enabled}/bin/switch-to-configuration test")
          machine.succeed("test -s /etc/blankroot/config.json")
          machine.succeed("systemctl is-active blankroot-status.service")
          log = machine.succeed("journalctl -b -u blankroot-status.service")
          assert "/ not checked: the booted system does not wipe it" in log, log
          machine.succeed("blankroot status --check")
          machine.fail("systemctl --failed --no-legend | grep -q blankroot")

      with subtest("the next boot is the first wiped one, the old root kept"):
          machine.succeed(f"bootctl set-default {boot_entry('enabled')['id']}", "sync")
          reboot()
          assert_status("archived")
          assert_wiped("one", nested=False)
          archives = json.loads(machine.succeed("blankroot archives --json"))
          assert len(archives["archives"]) == 1, archives
          path = archives["archives"][0]["path"]
          top_level(f"grep -qx one /mnt/top/{shlex.quote(path)}/canary-one")
    '';
}
