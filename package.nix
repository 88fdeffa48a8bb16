# blankroot, statically linked (musl): the initrd gets this one file and nothing else.
# The crate has no C dependencies (rustix, serde, clap, log), so no bindgen and no pkg-config.
{
  lib,
  pkgsStatic,
  installShellFiles,
  runCommand,
  file,
  testers,
}:
let
  manifest = lib.importTOML ./Cargo.toml;
  # blankroot-docs is a static binary for the same CPU: the build machine can run it.
  canRunDocs = pkgsStatic.stdenv.buildPlatform.canExecute pkgsStatic.stdenv.hostPlatform;
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

    # The man page and the shell completions come from the command line's clap definition:
    # blankroot-docs (feature "docs") is built beside blankroot, run once here and not installed.
    # The feature only adds that binary; blankroot itself does not change. (A cross build, whose
    # binaries the build machine cannot run, goes without the pages.)
    buildFeatures = [ "docs" ];
    nativeBuildInputs = [ installShellFiles ];
    postInstall =
      lib.optionalString canRunDocs ''
        generated=$(mktemp -d)
        $out/bin/blankroot-docs "$generated"
        installManPage "$generated/blankroot.8"
        installShellCompletion --cmd blankroot \
          --bash "$generated/completions/blankroot.bash" \
          --zsh "$generated/completions/_blankroot" \
          --fish "$generated/completions/blankroot.fish"
      ''
      + ''
        rm $out/bin/blankroot-docs
      '';

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
