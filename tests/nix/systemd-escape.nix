# Stand-ins for nixpkgs' utils.escapeSystemdPath and utils.escapeSystemdExecArgs, written from
# the documented rules, not from nixpkgs:
# - systemd.unit(5), "String Escaping for Inclusion in Unit Names" (systemd-escape --path): drop
#   leading, trailing and repeated "/" (and "." components); "/" alone is "-"; every "/" becomes
#   "-"; every byte that is not an ASCII letter, digit, ":", "_" or "." becomes "\xNN" (lower-case
#   hex); a leading "." is escaped too.
# - systemd.service(5), "Command lines": a double-quoted word may contain C escapes ("\\", "\"");
#   "%" starts a specifier ("%%" is a literal "%") and "$" a variable ("$$" a literal "$").
{ lib }:
let
  printable = lib.stringToCharacters " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
  codes = lib.listToAttrs (lib.imap0 (i: c: lib.nameValuePair c (32 + i)) printable);
  hex = c: "\\x" + lib.toLower (lib.fixedWidthString 2 "0" (lib.toHexString (codes.${c} or (throw "escape: non-ASCII or control character in a unit name"))));
  plain = c: builtins.match "[A-Za-z0-9:_.]" c != null;
  escapeChar = c: if c == "/" then "-" else if plain c then c else hex c;
in
{
  escapeSystemdPath =
    s:
    let
      parts = lib.filter (p: p != "" && p != ".") (lib.splitString "/" s);
      path = lib.concatStringsSep "/" parts;
      chars = lib.stringToCharacters path;
    in
    if lib.elem ".." parts then
      throw "escapeSystemdPath: ${s} is not normalised"
    else if path == "" then
      "-"
    else
      lib.concatStrings ((if lib.head chars == "." then [ (hex ".") ] else [ (escapeChar (lib.head chars)) ]) ++ map escapeChar (lib.tail chars));

  escapeSystemdExecArgs = lib.concatMapStringsSep " " (
    a:
    "\""
    + lib.replaceStrings [ "\\" "\"" "%" "$" "\n" ] [ "\\\\" "\\\"" "%%" "$$" "\\n" ] (toString a)
    + "\""
  );
}
