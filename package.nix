# blankroot, statically linked (musl): the initrd gets this one file and nothing else.
# The crate has no C dependencies (rustix, serde, log), so no bindgen and no pkg-config.
{
  lib,
  pkgsStatic,
  runCommand,
  file,
  testers,
}:
let
  manifest = lib.importTOML ./Cargo.toml;
  blankroot = pkgsStatic.rustPlatform.buildRustPackage {
    pname = "blankroot";
    inherit (manifest.package) version;

    src = lib.fileset.toSource {
      root = ./.;
      fileset = lib.fileset.unions [
        ./Cargo.toml
        ./Cargo.lock
        ./src
      ];
    };
    cargoLock.lockFile = ./Cargo.lock;

    # The integration tests (tests/) need loop devices and root; the build sandbox has neither.
    # Only the unit tests run here; .ci/run and the VM tests cover the rest.
    cargoTestFlags = [ "--lib" ];

    passthru.tests = {
      version = testers.testVersion {
        package = blankroot;
        command = "blankroot --version";
      };
      # The initrd copies the binary alone: it must not need a dynamic loader or libraries.
      static = runCommand "blankroot-is-static" { nativeBuildInputs = [ file ]; } ''
        info=$(file -L ${blankroot}/bin/blankroot)
        echo "$info"
        case "$info" in
          *"statically linked"* | *"static-pie linked"*) touch $out ;;
          *) echo "blankroot is not statically linked" >&2; exit 1 ;;
        esac
      '';
    };

    meta = {
      description = manifest.package.description;
      license = lib.licenses.mit;
      mainProgram = "blankroot";
      platforms = lib.platforms.linux;
    };
  };
in
blankroot
