#!/usr/bin/env bash
# The Nix checks that run without nixpkgs (CI here): parse every .nix file, evaluate the NixOS
# module against nixpkgs' lib, compare the golden unit and the options reference (docs/options.md),
# feed the generated command lines to the real binary on loop devices, and check the links of
# README.md and docs/ (tests/docs-check.py).
#
# Environment:
#   NIXPKGS_LIB            checkout of nix-community/nixpkgs.lib (or any nixpkgs). Unset, the copy
#                          at ../shared/upstream/nixpkgs-lib is used where it exists (CI has it);
#                          without either the evaluation and the loop-device checks are SKIPPED
#                          (said so loudly).
#   NIXPKGS_MODULES        a directory holding nixpkgs' nixos/modules/misc/assertions.nix and
#                          nixos/modules/system/activation/pre-switch-check.nix; unset,
#                          ../shared/upstream/nixpkgs-partial where it has them (then NIXPKGS_LIB
#                          when it is a whole nixpkgs). With them the module is evaluated with
#                          nixpkgs' own declarations of assertions, warnings and
#                          system.preSwitchChecks, and the pre-switch check runs inside the script
#                          pre-switch-check.nix writes; without them stand-ins (stubs.nix) are used.
#   NIXPKGS_SRC            a nixpkgs checkout, or a directory holding its nixos/lib/{utils,
#                          systemd-lib,systemd-unit-options,systemd-types}.nix (a copy in the
#                          ignored .cache/nixpkgs/ is found by itself; so are NIXPKGS_LIB when it is
#                          a whole nixpkgs and ../shared/upstream/nixpkgs-partial once it holds
#                          all four: the SKIPPED line names what it lacks). With it the golden unit is rendered by nixpkgs' own
#                          serviceToUnit and the project's renderer must agree; without it the
#                          project's renderer writes it and the comparison is SKIPPED.
#   BLANKROOT_BIN          the blankroot binary (default: cargo build, CARGO_TARGET_DIR honoured).
#   BLANKROOT_REQUIRE_NIXPKGS_LIB=1  a missing NIXPKGS_LIB is a failure, not a skip.
#   BLANKROOT_REQUIRE_ROOT=1  the loop-device check must run: not being root is a failure.
#   BLANKROOT_UPDATE_GOLDEN=1 rewrite vm-tests/golden/btrfs-luks.unit instead of comparing.
#   BLANKROOT_UPDATE_DOCS=1   rewrite docs/options.md (and the unit shown in docs/nixos.md)
#                             instead of comparing.
set -euo pipefail
# Evaluation only: `--store dummy://` needs no store and no daemon, so any user can run it.

cd "$(dirname "$0")/../.."
failures=0
pass() { echo "PASS: $*"; }
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
skip() { echo "SKIPPED: $*"; }

# 1. Every .nix file parses.
count=0
while IFS= read -r -d '' f; do
  count=$((count + 1))
  if ! out=$(nix-instantiate --store dummy:// --parse "$f" 2>&1 >/dev/null); then
    fail "nix-instantiate --parse $f: $out"
  fi
done < <(find . \( -path ./.git -o -path ./target -o -path ./.cache -o -name node_modules \) -prune -o -name '*.nix' -type f -print0)
pass "parsed $count .nix files"

# 2. Module evaluation.
upstream=../shared/upstream
if [ -z "${NIXPKGS_LIB:-}" ] && [ -f "$upstream/nixpkgs-lib/lib/default.nix" ]; then
  NIXPKGS_LIB=$upstream/nixpkgs-lib
  echo "tests/nix/check.sh: NIXPKGS_LIB unset: using $NIXPKGS_LIB ($(sed -n 's/.*nixpkgs\.lib at \([0-9a-f]\{12\}\).*/nix-community\/nixpkgs.lib \1/p' "$upstream/README.md" | head -1))"
fi
lib_expr=""
if [ -n "${NIXPKGS_LIB:-}" ]; then
  for cand in "$NIXPKGS_LIB/lib/default.nix" "$NIXPKGS_LIB/default.nix"; do
    if [ -f "$cand" ] && grep -q evalModules "$cand" 2>/dev/null; then
      lib_expr="import $(realpath "$cand")"
      break
    fi
  done
  [ -n "$lib_expr" ] || fail "NIXPKGS_LIB=$NIXPKGS_LIB holds no lib/default.nix with evalModules"
fi

# nixpkgs' own systemd files, for rendering the golden unit with nixpkgs' code.
nixos_files="utils.nix systemd-lib.nix systemd-unit-options.nix systemd-types.nix"
has_nixos_files() {
  local f
  for f in $nixos_files; do [ -f "$1/nixos/lib/$f" ] || return 1; done
}
nixpkgs_src=""
if [ -n "${NIXPKGS_SRC:-}" ]; then
  if has_nixos_files "$NIXPKGS_SRC"; then
    nixpkgs_src=$(realpath "$NIXPKGS_SRC")
  else
    fail "NIXPKGS_SRC=$NIXPKGS_SRC lacks nixos/lib/ files (needs: $nixos_files)"
  fi
else
  for cand in "${NIXPKGS_LIB:-}" .cache/nixpkgs "$upstream/nixpkgs-partial"; do
    if [ -n "$cand" ] && has_nixos_files "$cand"; then
      nixpkgs_src=$(realpath "$cand")
      break
    fi
  done
fi
# What a partial upstream copy lacks, for the SKIPPED line.
nixos_lacking=""
if [ -z "$nixpkgs_src" ] && [ -d "$upstream/nixpkgs-partial/nixos/lib" ]; then
  for f in $nixos_files; do
    [ -f "$upstream/nixpkgs-partial/nixos/lib/$f" ] || nixos_lacking="$nixos_lacking nixos/lib/$f"
  done
fi

# nixpkgs' own modules that declare what the stand-ins of stubs.nix otherwise declare.
module_files="nixos/modules/misc/assertions.nix nixos/modules/system/activation/pre-switch-check.nix"
has_module_files() {
  local f
  for f in $module_files; do [ -f "$1/$f" ] || return 1; done
}
nixpkgs_modules=""
if [ -n "${NIXPKGS_MODULES:-}" ]; then
  if has_module_files "$NIXPKGS_MODULES"; then
    nixpkgs_modules=$(realpath "$NIXPKGS_MODULES")
  else
    fail "NIXPKGS_MODULES=$NIXPKGS_MODULES lacks some of: $module_files"
  fi
else
  for cand in "$upstream/nixpkgs-partial" "${NIXPKGS_LIB:-}" "$nixpkgs_src"; do
    if [ -n "$cand" ] && has_module_files "$cand"; then
      nixpkgs_modules=$(realpath "$cand")
      break
    fi
  done
fi

tmp=$(mktemp -d)
cleanup() {
  for m in "$tmp"/mnt*; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
  if [ -f "$tmp/loops" ]; then
    while read -r l; do losetup -d "$l" 2>/dev/null || true; done <"$tmp/loops"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Runs every case of a JSON {"rootCases": ...} file through loop_case.py (root only).
loop_cases() {
  local json=$1 what=$2 c rc
  if [ "$(id -u)" -ne 0 ]; then
    if [ "${BLANKROOT_REQUIRE_ROOT:-}" = 1 ]; then
      fail "the loop-device check of the $what arguments needs root and BLANKROOT_REQUIRE_ROOT=1"
    else
      skip "loop-device check of the $what arguments: not root (BLANKROOT_REQUIRE_ROOT=1 makes this a failure)"
    fi
    return
  fi
  if [ -z "${bin:-}" ]; then
    bin=${BLANKROOT_BIN:-}
    if [ -z "$bin" ]; then
      cargo build --quiet
      bin="${CARGO_TARGET_DIR:-target}/debug/blankroot"
    fi
  fi
  for c in $(jq -r '.rootCases | keys[]' "$json"); do
    rc=0
    python3 tests/nix/loop_case.py "$bin" "$tmp" "$c" <"$json" || rc=$?
    case $rc in
      0) pass "blankroot rollback --dry-run accepts the $what $c arguments" ;;
      77)
        if [ "${BLANKROOT_REQUIRE_ROOT:-}" = 1 ]; then
          fail "the $c arguments: no zfs-fuse daemon, and BLANKROOT_REQUIRE_ROOT=1"
        else
          skip "the $c arguments: no zfs-fuse here (apt-get install zfs-fuse)"
        fi
        ;;
      *) fail "the $what $c arguments (exit $rc)" ;;
    esac
  done
}

if [ -z "$lib_expr" ] && [ "${BLANKROOT_REQUIRE_NIXPKGS_LIB:-}" = 1 ]; then
  fail "NIXPKGS_LIB is not set (or not a nixpkgs lib) and BLANKROOT_REQUIRE_NIXPKGS_LIB=1"
elif [ -z "$lib_expr" ]; then
  skip "module evaluation, golden unit and options reference (docs/options.md) comparisons and the generated arguments on loop devices (the golden ExecStart and the docs' links still run below): set NIXPKGS_LIB to a checkout of nix-community/nixpkgs.lib (or have one at ../shared/upstream/nixpkgs-lib)"
else
  for tool in jq python3; do
    command -v "$tool" >/dev/null || fail "tests/nix/check.sh needs $tool (apt-get install $tool)"
  done
  if [ "$failures" -ne 0 ]; then
    :
  elif ! nix-instantiate --store dummy:// --eval --strict --json tests/nix/eval.nix --arg lib "$lib_expr" \
    ${nixpkgs_src:+--arg nixpkgs "$nixpkgs_src"} ${nixpkgs_modules:+--arg upstreamModules "$nixpkgs_modules"} \
    >"$tmp/eval.json" 2>"$tmp/eval.err"; then
    fail "evaluating tests/nix/eval.nix: $(cat "$tmp/eval.err")"
  else
    if [ -n "$nixpkgs_src" ]; then
      pass "nixpkgs' own systemd code ($nixpkgs_src/nixos/lib) renders the units; the project's renderer and escaping stand-ins agree with it"
    else
      skip "nixpkgs' serviceToUnit: no nixpkgs files${nixos_lacking:+ ($upstream/nixpkgs-partial lacks$nixos_lacking)} (set NIXPKGS_SRC to a nixpkgs checkout, see the top of tests/nix/check.sh): the golden unit is rendered by the project's renderer, unchecked against nixpkgs"
    fi
    if [ -n "$nixpkgs_modules" ]; then
      pass "nixpkgs' own assertions.nix and pre-switch-check.nix ($nixpkgs_modules) declare assertions, warnings and system.preSwitchChecks in the evaluation"
    else
      skip "nixpkgs' assertions.nix and pre-switch-check.nix: not found (set NIXPKGS_MODULES): stand-ins declare those options"
    fi
    n=$(jq '.failures | length' "$tmp/eval.json")
    if [ "$n" -eq 0 ]; then
      pass "module evaluation: every expectation holds"
    else
      jq -r '.failures[]' "$tmp/eval.json" | while IFS= read -r line; do echo "FAIL: $line" >&2; done
      failures=$((failures + n))
    fi

    golden=vm-tests/golden/btrfs-luks.unit
    jq -jr .golden "$tmp/eval.json" >"$tmp/golden"
    if [ "${BLANKROOT_UPDATE_GOLDEN:-}" = 1 ]; then
      cp "$tmp/golden" "$golden"
      pass "rewrote $golden"
    elif diff -u "$golden" "$tmp/golden"; then
      pass "$golden matches the module (rendered by $(jq -r .renderedBy "$tmp/eval.json"))"
    else
      fail "$golden differs from what the module generates (BLANKROOT_UPDATE_GOLDEN=1 to accept)"
    fi

    # The stand-in escaping agrees with systemd-escape where that exists.
    if command -v systemd-escape >/dev/null; then
      want=$(systemd-escape --path /dev/disk/by-uuid/b79d3c8b-d511-4d66-a5e0-641a75440ada /sysroot/var/log / | tr " " "\n")
      got=$(jq -r '.escapes[]' "$tmp/eval.json")
      if [ "$want" = "$got" ]; then pass "escapeSystemdPath stand-in agrees with systemd-escape"; else fail "escape: $got vs $want"; fi
    else
      skip "systemd-escape comparison (no systemd-escape)"
    fi

    # The stage-1 fragments are valid shell; the pre-switch fragment passes shellcheck, as
    # writeShellApplication demands.
    for s in postResume postResumeZfs; do
      jq -r ".scripts.$s" "$tmp/eval.json" >"$tmp/$s.sh"
      if sh -n "$tmp/$s.sh"; then pass "postResumeCommands ($s) parse with sh -n"; else fail "sh -n $s"; fi
    done
    for mode in preSwitch preSwitchEnforce; do
      { echo '#!/usr/bin/env bash'; echo 'set -o errexit -o nounset -o pipefail'; jq -r ".scripts.$mode" "$tmp/eval.json"; } >"$tmp/pre.sh"
      if command -v shellcheck >/dev/null; then
        if shellcheck "$tmp/pre.sh"; then pass "preSwitchChecks fragment ($mode) passes shellcheck"; else fail "shellcheck on the preSwitchChecks fragment ($mode)"; fi
      else
        skip "shellcheck of the preSwitchChecks fragment (no shellcheck)"
      fi
    done

    # The pre-switch fragment run as nixpkgs runs it (pre-switch-check.nix: `if ! ( FRAGMENT )
    # >&2; then ... exit 1` in a writeShellApplication script given the new toplevel and the
    # action), with a stand-in blankroot that records its arguments: which command line, and
    # which outcome, for warn and enforce.
    pre_switch_case() { # NAME SCRIPT ACTION TOPLEVEL STUB_RC WANT_RC WANT_ARGS
      local name=$1 script=$2 action=$3 toplevel=$4 stub_rc=$5 want_rc=$6 want_args=$7 rc=0 got
      rm -f "$tmp/stub.args"
      STUB_RC=$stub_rc bash "$script" "$toplevel" "$action" >"$tmp/pre.out" 2>&1 || rc=$?
      got=$(cat "$tmp/stub.args" 2>/dev/null || echo "(not run)")
      if [ "$rc" = "$want_rc" ] && [ "$got" = "$want_args" ]; then
        pass "pre-switch check, $name: exit $rc, blankroot $got"
      else
        fail "pre-switch check, $name: exit $rc (want $want_rc), blankroot $got (want $want_args): $(cat "$tmp/pre.out")"
      fi
    }
    cat >"$tmp/stub-blankroot" <<'STUB'
#!/usr/bin/env bash
printf '%s\n' "$*" >"$STUB_ARGS"
exit "${STUB_RC:-0}"
STUB
    chmod +x "$tmp/stub-blankroot"
    export STUB_ARGS="$tmp/stub.args"
    store_bin=$(jq -r .bin "$tmp/eval.json")
    # With nixpkgs' pre-switch-check.nix at hand, the script it writes (writeShellScript: a
    # shebang and the text); else a wrapper that does what it does.
    for mode in preSwitch preSwitchEnforce; do
      if [ -n "$nixpkgs_modules" ]; then
        {
          echo '#!/usr/bin/env bash'
          jq -r ".scripts.${mode}Upstream" "$tmp/eval.json" | sed "s|$store_bin|$tmp/stub-blankroot|g"
        } >"$tmp/$mode.sh"
        continue
      fi
      {
        echo '#!/usr/bin/env bash'
        echo 'set -o errexit -o nounset -o pipefail'
        echo 'if ! ('
        jq -r ".scripts.$mode" "$tmp/eval.json" | sed "s|$store_bin|$tmp/stub-blankroot|g"
        echo ') >&2; then echo "Pre-switch check failed" >&2; exit 1; fi'
      } >"$tmp/$mode.sh"
    done
    mkdir -p "$tmp/new-system/etc/blankroot" "$tmp/old-system/etc"
    echo '{"args": []}' >"$tmp/new-system/etc/blankroot/config.json"
    new_cfg="check --config $tmp/new-system/etc/blankroot/config.json"
    pre_switch_case "warn, switch, ok" "$tmp/preSwitch.sh" switch "$tmp/new-system" 0 0 "$new_cfg"
    pre_switch_case "warn, boot, findings" "$tmp/preSwitch.sh" boot "$tmp/new-system" 1 0 "$new_cfg"
    pre_switch_case "warn, test: not run" "$tmp/preSwitch.sh" test "$tmp/new-system" 1 0 "(not run)"
    pre_switch_case "warn, no config.json in the new system" "$tmp/preSwitch.sh" switch "$tmp/old-system" 0 0 "(not run)"
    pre_switch_case "enforce, switch, ok" "$tmp/preSwitchEnforce.sh" switch "$tmp/new-system" 0 0 "$new_cfg --strict"
    pre_switch_case "enforce, boot, findings: refused" "$tmp/preSwitchEnforce.sh" boot "$tmp/new-system" 1 1 "$new_cfg --strict"
    pre_switch_case "enforce, check, findings: refused" "$tmp/preSwitchEnforce.sh" check "$tmp/new-system" 1 1 "$new_cfg --strict"
    pre_switch_case "enforce, dry-activate: not run" "$tmp/preSwitchEnforce.sh" dry-activate "$tmp/new-system" 1 0 "(not run)"
    pre_switch_case "enforce, no config.json in the new system: refused" "$tmp/preSwitchEnforce.sh" switch "$tmp/old-system" 0 1 "(not run)"

    # The VM tests' scripts, as the nixpkgs test driver checks them before booting anything:
    # valid Python; pyflakes with the driver's names as builtins; mypy --no-implicit-optional
    # with type information prepended (tests/nix/vm-driver-types.py, then `NODE: QemuMachine` for
    # each node, as the driver's test-script-prepend.py); ruff (the driver's lint since nixpkgs
    # PR #509615; its default rules here). Each tool runs where it is installed.
    have() { python3 -m "$1" --version >/dev/null 2>&1; }
    vm_builtins=machine,start_all,subtest,machines,driver,log,retry,join_all,polling_condition,serial_stdout_on,serial_stdout_off,Machine
    if nix-instantiate --store dummy:// --eval --strict --json tests/nix/vm-scripts.nix --arg lib "$lib_expr" >"$tmp/vm.json" 2>"$tmp/vm.err"; then
      for t in $(jq -r 'keys[]' "$tmp/vm.json"); do
        jq -r --arg t "$t" '.[$t].script' "$tmp/vm.json" >"$tmp/vm-$t.py"
        nodes=$(jq -r --arg t "$t" '.[$t].nodes | join(",")' "$tmp/vm.json")
        if ! python3 -c 'import sys; compile(open(sys.argv[1]).read(), sys.argv[1], "exec")' "$tmp/vm-$t.py"; then
          fail "vm-tests/$t.nix: the testScript is not valid Python"
          continue
        fi
        checked="compiles" ok=1
        if have pyflakes; then
          if PYFLAKES_BUILTINS="$vm_builtins,$nodes" python3 -m pyflakes "$tmp/vm-$t.py"; then
            checked="$checked, pyflakes"
          else
            fail "vm-tests/$t.nix: pyflakes"
            ok=0
          fi
        fi
        if have mypy; then
          {
            cat tests/nix/vm-driver-types.py
            jq -r --arg t "$t" '.[$t].nodes[] | "\(.): QemuMachine"' "$tmp/vm.json"
            cat "$tmp/vm-$t.py"
          } >"$tmp/typed-$t.py"
          if python3 -m mypy --no-implicit-optional --no-error-summary --cache-dir "$tmp/mypy-cache" "$tmp/typed-$t.py"; then
            checked="$checked, mypy"
          else
            fail "vm-tests/$t.nix: mypy"
            ok=0
          fi
        fi
        if have ruff; then
          if python3 -m ruff check --quiet --no-cache --config "builtins = [$(echo "$vm_builtins,$nodes" | sed 's/[^,]*/"&"/g')]" "$tmp/vm-$t.py"; then
            checked="$checked, ruff"
          else
            fail "vm-tests/$t.nix: ruff"
            ok=0
          fi
        fi
        if [ "$ok" = 1 ]; then
          pass "vm-tests/$t.nix: testScript $checked$(have pyflakes && have mypy && have ruff || echo " (of pyflakes, mypy and ruff only those installed ran)")"
        fi
      done
    else
      fail "evaluating tests/nix/vm-scripts.nix: $(cat "$tmp/vm.err")"
    fi

    # The options reference is what the module declares.
    if ! nix-instantiate --store dummy:// --eval --strict --json tests/nix/options-doc.nix --arg lib "$lib_expr" \
      -A markdown >"$tmp/options.json" 2>"$tmp/options.err"; then
      fail "evaluating tests/nix/options-doc.nix: $(cat "$tmp/options.err")"
    else
      jq -jr . "$tmp/options.json" >"$tmp/options.md"
      if [ "${BLANKROOT_UPDATE_DOCS:-}" = 1 ]; then
        mkdir -p docs && cp "$tmp/options.md" docs/options.md
        pass "rewrote docs/options.md"
      elif diff -u docs/options.md "$tmp/options.md"; then
        pass "docs/options.md matches the module's options"
      else
        fail "docs/options.md differs from the module's options (BLANKROOT_UPDATE_DOCS=1 to rewrite it)"
      fi
    fi

    # 3. The generated command lines are accepted by the real binary (root only).
    loop_cases "$tmp/eval.json" generated
  fi
fi

# 4. Without nixpkgs too: the committed golden unit's ExecStart ("Full Disk Encryption and Impermanence on NixOS" (2025), what the module
#    generates; step 2 keeps it current) runs on a loop image with the real binary.
python3 - vm-tests/golden/btrfs-luks.unit >"$tmp/golden.json" <<'PY'
import json, shlex, sys
line = next(l for l in open(sys.argv[1]) if l.startswith("ExecStart="))
exec_start = line[len("ExecStart="):].strip()
words = [w.replace("%%", "%").replace("$$", "$") for w in shlex.split(exec_start)]
print(json.dumps({"rootCases": {"golden-seed002": {
    "bin": words[0], "args": words[2:], "execStart": exec_start}}}))
PY
loop_cases "$tmp/golden.json" golden

# 5. Without nixpkgs too: links between README.md and docs/ resolve, and docs/nixos.md shows the
#    golden unit as it is.
if python3 tests/docs-check.py ${BLANKROOT_UPDATE_DOCS:+--update}; then
  pass "README.md and docs/: every link resolves; docs/nixos.md shows the golden unit"
else
  fail "README.md and docs/ (tests/docs-check.py; BLANKROOT_UPDATE_DOCS=1 rewrites the unit shown in docs/nixos.md)"
fi

if [ "$failures" -ne 0 ]; then
  echo "tests/nix/check.sh: $failures failure(s)" >&2
  exit 1
fi
echo "tests/nix/check.sh: all checks passed (see SKIPPED lines for what did not run)"
