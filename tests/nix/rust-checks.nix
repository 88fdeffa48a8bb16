# clippy and rustfmt for `nix flake check` (the crate has no C dependencies, so the plain
# rustPlatform is enough).
{
  lib,
  rustPlatform,
  clippy,
  rustfmt,
  runCommand,
}:
let
  root = ../..;
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      (root + "/Cargo.toml")
      (root + "/Cargo.lock")
      (root + "/src")
      (lib.fileset.fileFilter (f: f.hasExt "rs") (root + "/tests"))
    ];
  };
in
{
  clippy = rustPlatform.buildRustPackage {
    pname = "blankroot-clippy";
    version = "0";
    inherit src;
    cargoLock.lockFile = root + "/Cargo.lock";
    nativeBuildInputs = [ clippy ];
    buildPhase = ''
      cargo clippy --offline --all-targets --all-features -- -D warnings
    '';
    doCheck = false;
    installPhase = "touch $out";
  };

  rustfmt = runCommand "blankroot-rustfmt" { nativeBuildInputs = [ rustfmt ]; } ''
    cd ${src}
    rustfmt --check --edition 2021 $(find src tests -name '*.rs' | sort)
    touch $out
  '';
}
