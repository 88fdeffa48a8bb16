#!/usr/bin/env python3
"""The documentation's own checks (tests/nix/check.sh runs them; no Nix needed).

- Every relative link in README.md and docs/*.md resolves: the file exists, and a #fragment names
  a heading of that file (GitHub's anchors).
- docs/README.md links to every page in docs/.
- No link to a repository that does not exist (there is no public blankroot repository yet).
- docs/nixos.md shows vm-tests/golden/btrfs-luks.unit as it is (the block after the
  `<!-- golden: ... -->` marker); --update rewrites that block from the golden file.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = "vm-tests/golden/btrfs-luks.unit"
MARKER = f"<!-- golden: {GOLDEN} -->"
INVENTED = ("github.com/blankroot/", "github:blankroot/")

errors = []


def prose_lines(text):
    """The lines outside fenced code blocks, with their numbers."""
    fence = None
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^\s*(```|~~~)", line)
        if m:
            if fence is None:
                fence = m.group(1)
            elif line.strip().startswith(fence):
                fence = None
            continue
        if fence is None:
            yield n, line


def anchors(path):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, -N for repeats."""
    seen = {}
    out = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def check_links(page):
    text = page.read_text(encoding="utf-8")
    for bad in INVENTED:
        if bad in text:
            errors.append(f"{page.relative_to(ROOT)}: names {bad}…, a repository that does not exist")
    for n, line in prose_lines(text):
        # Inline code is not a link.
        line = re.sub(r"`[^`]*`", "", line)
        for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # https:, mailto:
            file_part, _, fragment = target.partition("#")
            dest = (page.parent / file_part).resolve() if file_part else page
            where = f"{page.relative_to(ROOT)}:{n}: link {target}"
            if not dest.exists():
                errors.append(f"{where}: no such file")
                continue
            if fragment and dest.suffix == ".md" and fragment not in anchors(dest):
                errors.append(f"{where}: {dest.relative_to(ROOT)} has no heading #{fragment}")


def golden_body():
    lines = (ROOT / GOLDEN).read_text(encoding="utf-8").splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines)


def check_unit_block(update):
    page = ROOT / "docs/nixos.md"
    text = page.read_text(encoding="utf-8")
    m = re.search(re.escape(MARKER) + r"\n+```ini\n(.*?)```\n", text, re.S)
    if not m:
        errors.append(f"docs/nixos.md: no {MARKER} followed by an ```ini block")
        return
    want = golden_body()
    if m.group(1) == want:
        return
    if update:
        page.write_text(text[: m.start(1)] + want + text[m.end(1) :], encoding="utf-8")
        print(f"docs-check: rewrote the unit in docs/nixos.md from {GOLDEN}")
    else:
        errors.append(f"docs/nixos.md: the unit shown differs from {GOLDEN} (BLANKROOT_UPDATE_DOCS=1 rewrites it)")


def main():
    update = "--update" in sys.argv[1:]
    pages = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
    for page in pages:
        check_links(page)
    index = (ROOT / "docs/README.md").read_text(encoding="utf-8")
    for page in pages:
        if page.parent.name == "docs" and page.name != "README.md" and f"]({page.name}" not in index:
            errors.append(f"docs/README.md: no link to {page.name}")
    check_unit_block(update)
    for e in errors:
        print(f"docs-check: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
