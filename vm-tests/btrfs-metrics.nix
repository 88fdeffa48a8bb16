# boot.blankroot.metrics (issue 17): node-exporter's textfile collector serves blankroot's status.
# After the first wiped boot the exporter on :9100 shows the root's rollback as a success with its
# duration and archives; after a boot whose rollback is skipped (skip-next-boot), the skip and its
# reason. The file is written whole (no temporary name left in the directory).
{ helpers, ... }:
{
  name = "blankroot-btrfs-metrics";

  nodes.machine =
    { pkgs, ... }:
    {
      environment.systemPackages = [ pkgs.curl ];
      specialisation.btrfs.configuration = {
        imports = [ ./btrfs-layout.nix ];
        boot.blankroot.enable = true;
        boot.blankroot.metrics.enable = true;
        services.prometheus.exporters.node = {
          enable = true;
          enabledCollectors = [ "textfile" ];
          extraFlags = [ "--collector.textfile.directory=/var/lib/prometheus-node-exporter-text-files" ];
        };
      };
    };

  testScript = helpers + ''
    def scrape(want: str) -> str:
        # blankroot-metrics.service runs once the system is up; the exporter reads the file on
        # every scrape.
        machine.wait_for_unit("prometheus-node-exporter.service")
        machine.wait_until_succeeds(f"curl -sf http://127.0.0.1:9100/metrics | grep -F '{want}'", timeout=120)
        return machine.succeed("curl -sf http://127.0.0.1:9100/metrics")

    machine.start()
    machine.wait_for_unit("multi-user.target")
    make_btrfs("/dev/vdb")
    boot_into("btrfs")
    assert_status("archived")

    with subtest("a wiped boot is a success, with its duration and archives"):
        text = scrape('blankroot_rollback_success{mount_point="/"} 1')
        assert 'blankroot_rollback_duration_seconds{mount_point="/"}' in text, text
        assert 'blankroot_archives{mount_point="/"}' in text, text
        assert 'blankroot_rollback_skipped{mount_point="/",reason=""} 0' in text, text
        files = machine.succeed("ls -A /var/lib/prometheus-node-exporter-text-files").split()
        assert files == ["blankroot.prom"], files

    with subtest("a skipped boot says so, and why"):
        machine.succeed("blankroot skip-next-boot")
        reboot()
        scrape('blankroot_rollback_skipped{mount_point="/",reason="skip-next-boot"} 1')
  '';
}
