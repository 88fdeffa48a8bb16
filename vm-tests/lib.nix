# The shared wrapper of the VM tests (in the manner of lanzaboote's runTest): each scenario file is
# a test module; this adds the blankroot module and a machine that boots through systemd-boot from
# its own disk, so a specialisation can move / onto the disk the test formats.
#
# These tests need Nix with KVM and nixpkgs: `nix flake check` (or `nix build .#checks.<system>.<name>`).
# They cannot run on the project's CI host (no nixpkgs, no binary cache, no KVM).
{ self, pkgs }:
{
  runTest =
    module:
    pkgs.testers.runNixOSTest {
      imports = [ module ];
      # Python helpers for the testScripts (helpers.py): `testScript = helpers + "...";`
      _module.args.helpers = builtins.readFile ./helpers.py;
      globalTimeout = 3600;
      defaults = {
        imports = [
          self.nixosModules.default
          ./node.nix
        ];
      };
    };
}
