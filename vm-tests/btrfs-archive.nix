# Archive instead of delete, with retention: keep = 2 over three boots. The newest archive holds
# the root of the boot before; the oldest is pruned; /persist is untouched.
{ helpers, ... }:
{
  name = "blankroot-btrfs-archive";

  nodes.machine = {
    specialisation.archive.configuration = {
      imports = [ ./btrfs-layout.nix ];
      boot.blankroot = {
        enable = true;
        archive = {
          enable = true;
          keep = 2;
        };
      };
    };
  };

  testScript = helpers + ''
    def archives():
        return sorted(top_level("ls -1 /mnt/top/old_roots").split())

    machine.start()
    machine.wait_for_unit("multi-user.target")
    make_btrfs("/dev/vdb")
    boot_into("archive")
    assert_status("archived")
    assert len(archives()) == 1, archives()

    for n, boot in enumerate(["one", "two", "three"]):
        plant(boot)
        reboot()
        assert_wiped(boot)
        s = assert_status("archived")
        assert_order([])
        got = archives()
        assert len(got) == 2, f"boot {boot}: archives {got} (keep = 2)"
        newest = got[-1]
        assert s["archive"].endswith(newest), f"status archive {s['archive']!r}, newest {newest!r}"
        # The root of the boot before, nested subvolume included, is in the newest archive.
        top_level(f"grep -qx {boot} /mnt/top/old_roots/{newest}/canary-{boot}")
        top_level(f"btrfs subvolume show /mnt/top/old_roots/{newest}/srv/nested-{boot}")
        if n > 0:
            assert f"canary-{boot}" not in top_level(f"ls /mnt/top/old_roots/{got[0]}")
    machine.succeed("test $(wc -l < /persist/kept) -eq 3")
  '';
}
