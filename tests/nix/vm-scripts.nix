# The testScripts of the VM tests, as the test driver will see them, for linting and
# type-checking here (the nixpkgs driver does both before booting anything): for each test its
# script and its node names. A testScript written as a function of the nodes gets stand-ins:
# each node's system.build.toplevel is a placeholder store path.
{ lib }:
let
  helpers = builtins.readFile ../../vm-tests/helpers.py;
  names = import ../../vm-tests/list.nix;
  script =
    name:
    let
      test = import (../../vm-tests + "/${name}.nix") { inherit lib helpers; };
      nodes = lib.mapAttrs (node: _: {
        system.build.toplevel = "/nix/store/00000000000000000000000000000000-nixos-system-${node}";
      }) (test.nodes or { });
    in
    {
      script = if builtins.isFunction test.testScript then test.testScript { inherit nodes; } else test.testScript;
      nodes = lib.attrNames nodes;
    };
in
lib.genAttrs names script
