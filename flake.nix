{
  description = "blankroot: put / back to a blank snapshot at every boot, from the initrd (Btrfs and ZFS)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});

      # boot.blankroot.* only (the module evaluated against tests/nix/stubs.nix), rendered to
      # Markdown by nixpkgs' nixosOptionsDoc. docs/options.md is the same options rendered by
      # tests/nix/options-doc.nix with lib only; the options-doc-current check keeps it current.
      optionsDoc = import ./tests/nix/options-doc.nix { inherit lib; };
      nixosOptionsDoc =
        pkgs:
        (pkgs.nixosOptionsDoc {
          inherit (optionsDoc) options;
          # Declared in a file of this repository, named relative to it: no store path, and not
          # a link into nixpkgs (which a plain relative string would become).
          transformOptions =
            opt: opt // { declarations = map (d: { name = optionsDoc.relative d; }) opt.declarations; };
        }).optionsCommonMark;

      # vm-tests/NAME.nix, each checks.<system>.vm-NAME.
      vmTests = import ./vm-tests/list.nix;
    in
    {
      packages = forAllSystems (
        system: pkgs: {
          blankroot = pkgs.callPackage ./package.nix { };
          default = self.packages.${system}.blankroot;
          # The NixOS options reference (Markdown): nix build .#options-doc
          options-doc = nixosOptionsDoc pkgs;
        }
      );

      overlays.default = final: _prev: { blankroot = final.callPackage ./package.nix { }; };

      # The module itself does not depend on the flake; the flake only supplies the package.
      nixosModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./nixos-module ];
          boot.blankroot.package = lib.mkDefault (
            self.packages.${pkgs.stdenv.hostPlatform.system}.default or (pkgs.callPackage ./package.nix { })
          );
        };
      nixosModules.blankroot = self.nixosModules.default;

      checks = forAllSystems (
        system: pkgs:
        let
          package = self.packages.${system}.default;
          vm = import ./vm-tests/lib.nix { inherit self pkgs; };
          # With nixpkgs' own systemd code: the golden unit is rendered by nixpkgs' serviceToUnit.
          eval = import ./tests/nix/eval.nix {
            inherit lib;
            nixpkgs = nixpkgs.outPath;
          };
        in
        {
          inherit package;
          package-version = package.passthru.tests.version;
          package-static = package.passthru.tests.static;

          # The module against stand-ins (what tests/nix/check.sh runs without nixpkgs) ...
          module-eval =
            assert lib.assertMsg (eval.failures == [ ]) (lib.concatStringsSep "\n" eval.failures);
            assert lib.assertMsg (eval.golden == builtins.readFile ./vm-tests/golden/btrfs-luks.unit)
              "vm-tests/golden/btrfs-luks.unit is stale: run tests/nix/check.sh with BLANKROOT_UPDATE_GOLDEN=1";
            pkgs.runCommand "blankroot-module-eval" { } "touch $out";
          # docs/options.md is what the module declares (BLANKROOT_UPDATE_DOCS=1 tests/nix/check.sh
          # rewrites it), and nixpkgs' nixosOptionsDoc renders the same options.
          options-doc-current =
            assert lib.assertMsg (optionsDoc.markdown == builtins.readFile ./docs/options.md)
              "docs/options.md is stale: run tests/nix/check.sh with BLANKROOT_UPDATE_DOCS=1";
            pkgs.runCommand "blankroot-options-doc-current" { } "touch $out";
          options-doc = self.packages.${system}.options-doc;
          # ... and inside real NixOS.
          nixos-eval = import ./tests/nix/nixos-eval.nix {
            inherit nixpkgs pkgs;
            module = self.nixosModules.default;
          };
        }
        // lib.getAttrs [ "clippy" "rustfmt" ] (pkgs.callPackage ./tests/nix/rust-checks.nix { })
        // lib.listToAttrs (
          map (name: lib.nameValuePair "vm-${name}" (vm.runTest ./vm-tests/${name}.nix)) vmTests
        )
      );

      devShells = forAllSystems (
        _system: pkgs: {
          default = pkgs.mkShell {
            packages = with pkgs; [
              cargo
              rustc
              clippy
              rustfmt
              rust-analyzer
              btrfs-progs
              jq
              shellcheck
              nixfmt
            ];
            # tests/nix/check.sh evaluates the module against this nixpkgs' lib.
            NIXPKGS_LIB = "${nixpkgs}";
          };
        }
      );

      formatter = forAllSystems (_system: pkgs: pkgs.nixfmt);
    };
}
