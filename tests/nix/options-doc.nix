# The NixOS options reference, docs/options.md, rendered from the module's own declarations with
# nothing but nixpkgs' lib: lib.optionAttrSetToDocList, the filter and the order nixosOptionsDoc
# uses (visible and not internal; `enable` and `package` first), and a small Markdown renderer.
#   nix-instantiate --eval --strict --json tests/nix/options-doc.nix --arg lib 'import <nixpkgs.lib>/lib'
# tests/nix/check.sh (BLANKROOT_UPDATE_DOCS=1 rewrites the file) and the flake's `options-doc`
# check compare the result with docs/options.md. The flake's packages.<system>.options-doc is
# nixpkgs' own nixosOptionsDoc over `options` below (with `relative` for the declarations).
{ lib }:
let
  root = toString ../..;
  eval = lib.evalModules {
    modules = [
      (import ./stubs.nix { })
      ../../nixos-module
      {
        _module.args = {
          pkgs = { };
          utils = import ./systemd-escape.nix { inherit lib; };
        };
      }
    ];
  };

  # Only boot.blankroot.*, not the stand-ins of stubs.nix.
  options = eval.options.boot.blankroot;

  # A declaration as a path inside the repository, never this machine's or the store's.
  relative = file: lib.removePrefix "${root}/" (toString file);

  # nixosOptionsDoc (nixos/lib/make-options-doc/default.nix): visible, not internal, and sorted
  # with the options named enable* and package* first at each level.
  optionLess =
    a: b:
    let
      ise = lib.hasPrefix "enable";
      isp = lib.hasPrefix "package";
      cmp = lib.splitByAndCompare ise lib.compare (lib.splitByAndCompare isp lib.compare lib.compare);
    in
    lib.compareLists cmp a.loc b.loc < 0;
  visible = lib.sort optionLess (
    lib.filter (o: o.visible && !o.internal) (lib.optionAttrSetToDocList options)
  );

  trim = s: lib.removeSuffix "\n" s;
  # renderOptionValue gives literalExpression (Nix code) or literalMD (Markdown).
  value =
    label: v:
    if v._type or null == "literalMD" then
      "- ${label}: ${trim v.text}\n"
    else if lib.hasInfix "\n" (trim v.text) then
      "- ${label}:\n\n  ```nix\n${lib.concatMapStrings (l: "  ${l}\n") (lib.splitString "\n" (trim v.text))}  ```\n"
    else
      "- ${label}: `${v.text}`\n";

  render =
    o:
    ''

      ## `${o.name}`

      ${trim (if o.description == null then "(no description)" else o.description)}

    ''
    + "- Type: ${o.type}\n"
    + lib.optionalString (o ? default) (value "Default" o.default)
    + lib.optionalString (o ? example) (value "Example" o.example)
    + lib.optionalString o.readOnly "- Read-only\n"
    + lib.concatMapStrings (
      d: "- Declared in: [${relative d}](../${relative d})\n"
    ) o.declarations;
in
{
  inherit options relative;

  markdown = ''
    # NixOS options: `boot.blankroot.*`

    Generated from the module's declarations (`nixos-module/`) by `tests/nix/options-doc.nix`; do
    not edit by hand. `BLANKROOT_UPDATE_DOCS=1 tests/nix/check.sh` (with `NIXPKGS_LIB` set)
    rewrites it; `tests/nix/check.sh` and `nix flake check` fail while it is stale. The same options
    rendered by nixpkgs' `nixosOptionsDoc`: `nix build .#options-doc`.

    How the defaults are derived, with examples: [the NixOS page](nixos.md). All pages:
    [the index](README.md).
  ''
  + lib.concatMapStrings render visible;
}
