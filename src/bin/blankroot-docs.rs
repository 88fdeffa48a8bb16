//! `blankroot-docs OUTDIR`: the man page `OUTDIR/blankroot.8` and the shell completions
//! `OUTDIR/completions/{blankroot.bash,_blankroot,blankroot.fish}`, generated from the command
//! line's clap definition (`blankroot::cli::command`) with clap_mangen and clap_complete.
//!
//! A binary of its own behind the `docs` feature (run by scripts/docs and package.nix), so that
//! neither crate ends up in the binary the initrd gets.

use blankroot::cli;
use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let [out] = &args[..] else {
        eprintln!("usage: blankroot-docs OUTDIR");
        return ExitCode::from(2);
    };
    match write_all(Path::new(out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blankroot-docs: {}: {e}", Path::new(out).display());
            ExitCode::FAILURE
        }
    }
}

fn write_all(out: &Path) -> io::Result<()> {
    let completions = out.join("completions");
    std::fs::create_dir_all(&completions)?;
    std::fs::write(out.join("blankroot.8"), man_page()?)?;
    for (shell, file) in [
        (Shell::Bash, "blankroot.bash"),
        (Shell::Zsh, "_blankroot"),
        (Shell::Fish, "blankroot.fish"),
    ] {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut cli::command(), "blankroot", &mut text);
        std::fs::write(completions.join(file), text)?;
    }
    Ok(())
}

/// What `Roff` writes before every piece: said once at the top of the page is enough.
const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// One page for the whole program: what clap_mangen renders for the program and for each
/// command (its synopsis, description and options, the option headings as subsections), then
/// the exit status, the kill switch, the environment and the files.
fn man_page() -> io::Result<String> {
    let mut cmd = cli::command();
    cmd.build();
    let page = |c: &clap::Command| {
        let usage = c
            .get_overridden_usage()
            .map(|u| one_line_forms(&u.to_string()));
        let mut c = c.clone();
        if let Some(usage) = usage {
            c = c.override_usage(usage);
        }
        Man::new(c)
            .title("BLANKROOT")
            .section("8")
            .manual("System Manager's Manual")
    };
    let top = page(&cmd);
    let mut w = Vec::new();
    top.render_title(&mut w)?;
    // Options and paths are not hyphenated, and lines are not stretched to the margin.
    Roff::new()
        .control("nh", [])
        .control("ad", ["l"])
        .to_writer(&mut w)?;
    top.render_name_section(&mut w)?;
    top.render_synopsis_section(&mut w)?;
    top.render_description_section(&mut w)?;
    top.render_options_section(&mut w)?;

    let commands: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|c| c.get_name() != "help")
        .collect();
    let mut list = Roff::new();
    list.control("SH", ["COMMANDS"]);
    for c in &commands {
        list.control("TP", []);
        list.text([bold(c.get_name())]);
        list.text([roman(
            c.get_about().map(|a| a.to_string()).unwrap_or_default(),
        )]);
    }
    list.control("TP", []);
    list.text([bold("help"), roman(" ["), italic("COMMAND"), roman("]")]);
    list.text([roman(
        "The help of blankroot or of a command, as --help prints it.",
    )]);
    list.to_writer(&mut w)?;

    for c in commands {
        let name = format!("BLANKROOT {}", c.get_name().to_uppercase());
        Roff::new()
            .control("SH", [name.as_str()])
            .to_writer(&mut w)?;
        let man = page(c);
        w.extend(body(|b| man.render_synopsis_section(b))?);
        Roff::new().control("PP", []).to_writer(&mut w)?;
        w.extend(body(|b| man.render_description_section(b))?);
        w.extend(subsections(|b| man.render_options_section(b))?);
    }
    extra_sections().to_writer(&mut w)?;
    top.render_version_section(&mut w)?;
    let text = String::from_utf8(w).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let rest = text.replace(PREAMBLE, "");
    Ok(if rest.len() < text.len() {
        format!("{PREAMBLE}{rest}")
    } else {
        text
    })
}

/// A usage text as clap prints it (forms wrapped, the continuation lines indented and starting
/// with `[` or `(`) with one line per form, for roff to fill.
fn one_line_forms(usage: &str) -> String {
    let mut forms: Vec<String> = Vec::new();
    for line in usage.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match forms.last_mut() {
            Some(form) if line.starts_with(['[', '(']) => {
                form.push(' ');
                form.push_str(line);
            }
            _ => forms.push(line.to_string()),
        }
    }
    forms.join("\n")
}

/// A section clap_mangen renders, without its `.SH` line.
fn body(render: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> io::Result<Vec<u8>> {
    let mut text = Vec::new();
    render(&mut text)?;
    let mut out = Vec::with_capacity(text.len());
    let mut headed = false;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if !headed && line.starts_with(b".SH ") {
            headed = true;
        } else {
            out.extend_from_slice(line);
        }
    }
    Ok(out)
}

/// Sections clap_mangen renders, as subsections (`.SH` becomes `.SS`).
fn subsections(render: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> io::Result<Vec<u8>> {
    let mut text = Vec::new();
    render(&mut text)?;
    let mut out = Vec::with_capacity(text.len());
    for line in text.split_inclusive(|&b| b == b'\n') {
        match line.strip_prefix(b".SH ") {
            Some(rest) => {
                out.write_all(b".SS ")?;
                out.write_all(rest)?;
            }
            None => out.write_all(line)?,
        }
    }
    Ok(out)
}

/// `.TP` with a bold term and its text.
fn item(roff: &mut Roff, term: impl Into<Vec<Inline>>, text: &str) {
    roff.control("TP", []);
    roff.text(term);
    roff.text([roman(text)]);
}

fn extra_sections() -> Roff {
    let mut r = Roff::new();
    r.control("SH", ["EXIT STATUS"]);
    item(
        &mut r,
        [bold("0")],
        "Done, or skipped on purpose (the kill switch). diff: listed; check: no problem found; \
         status --check: this boot's run succeeded.",
    );
    item(
        &mut r,
        [bold("1")],
        "Runtime failure: the root was not reset (the record says why). diff: failed or \
         incomplete; check: problems found; status --check: no successful run this boot.",
    );
    item(
        &mut r,
        [bold("2")],
        "Usage or configuration error: the command line or /etc/blankroot/config.json is \
         malformed or contradicts itself, or blankroot refuses to run here. Nothing was changed.",
    );

    r.control("SH", ["KERNEL COMMAND LINE"]);
    item(
        &mut r,
        [bold("rd.blankroot=0")],
        "(or no, false, off) turns blankroot off for one boot: the rollback leaves the root as \
         it is, records the run as skipped and exits 0, even when its own command line or \
         configuration is broken. The last rd.blankroot word on the command line counts. It is \
         how a user boots past a broken configuration.",
    );

    r.control("SH", ["ENVIRONMENT"]);
    item(
        &mut r,
        [bold("PATH")],
        "Where zfs and zpool are looked for, unless --zfs-command names them (when PATH is \
         unset: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin). They run with \
         LC_ALL=C.",
    );
    item(
        &mut r,
        [bold("BLANKROOT_KERNEL_CMDLINE")],
        "Read instead of /proc/cmdline when set (tests use it to try the kill switch; it can \
         only turn blankroot off).",
    );
    item(
        &mut r,
        [bold("BLANKROOT_PROGRESS")],
        "diff, persist and restore show a progress line on stderr (entries done, bytes, \
         seconds) when stderr is a terminal and the work has run for a second, redrawn in \
         place and erased at the end. 0: never; 1: always, one line per update, ending with \
         the totals (for logs). stdout is the same either way.",
    );
    item(
        &mut r,
        [bold("BLANKROOT_DIFF_WALK")],
        "Set (not empty): diff and check read a Btrfs root by walking it (readdir and one \
         statx per path) instead of reading the subvolumes' metadata in bulk. The listing is \
         the same, with a note saying how it was read; for comparing the two ways, and for \
         benchmarks.",
    );
    item(
        &mut r,
        [bold("BLANKROOT_KMSG")],
        "A file to append the kernel log records to instead of /dev/kmsg, or none for no kernel \
         log (tests).",
    );
    item(
        &mut r,
        [bold("BLANKROOT_FAILPOINT")],
        "Only in a build with the failpoints feature, for the crash tests: the process kills \
         itself at the named point. Never in a build that boots a real machine. The same \
         build reads BLANKROOT_NOW (the clock, in Unix seconds) and BLANKROOT_IGNORE_HEADROOM \
         (plan as if metadata space were plentiful), for the tests.",
    );

    r.control("SH", ["FILES"]);
    for (file, text) in [
        (
            "/etc/initrd-release",
            "Its presence means blankroot runs in an initrd; rollback refuses to run without it \
             unless --allow-outside-initrd, and runs once per boot with it.",
        ),
        (
            "/proc/cmdline",
            "The kernel command line, read for the kill switch.",
        ),
        (
            "/proc/sys/kernel/random/boot_id",
            "Names the boot in the status record (status --check, one run per boot).",
        ),
        (
            "/proc/self/mountinfo",
            "What is mounted where: a mounted root is refused; diff and check look at what is \
             mounted on / and below it.",
        ),
        (
            "/etc/blankroot/config.json",
            "Written by the NixOS module: {\"args\": [the rollback options], \"persisted\": \
             [absolute paths]}. Read by diff and check when no target is given (--config names \
             another file).",
        ),
        (
            "/run/blankroot/status.json",
            "The record of the last run (--status-file), replaced atomically; systemd carries \
             /run from the initrd into the booted system, where status reads it.",
        ),
        (
            "/run/blankroot/",
            "Private mount points of the Btrfs top level (subvolid=5), and in lock/ the flock \
             files (btrfs-MAJOR:MINOR.lock, zfs-POOL.lock) that keep two runs on one disk apart \
             (--lock-wait).",
        ),
        (
            "trusted.blankroot.retired",
            "Btrfs: the extended attribute blankroot sets on the top directory of a root it \
             retires, before the swap: the name of the archive it becomes, or delete. It proves \
             after a crash that the subvolume at the staging name is the old root, and marks \
             the archives blankroot made: only those are pruned (--prune-unmarked for others).",
        ),
        (
            "org.blankroot:archive",
            "ZFS: the user property blankroot sets on a root before renaming it into the \
             archive parent: the archive's name. Only datasets whose mark is their own name are \
             pruned.",
        ),
        (
            "/dev/kmsg",
            "The kernel log: every message goes there too (one record per line), as well as to \
             standard error.",
        ),
    ] {
        item(&mut r, [bold(file)], text);
    }
    r.control("SH", ["SEE ALSO"]);
    r.text([
        bold("btrfs-subvolume"),
        roman("(8), "),
        bold("zfs-rollback"),
        roman("(8), "),
        bold("bootup"),
        roman("(7)"),
    ]);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_names_every_command_and_option() {
        let page = man_page().unwrap();
        assert_eq!(page.matches(PREAMBLE).count(), 1, "one preamble");
        assert!(page.starts_with(PREAMBLE), "{page}");
        for section in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH COMMANDS",
            ".SH \"BLANKROOT ROLLBACK\"",
            ".SH \"BLANKROOT STATUS\"",
            ".SH \"BLANKROOT DIFF\"",
            ".SH \"BLANKROOT CHECK\"",
            ".SH \"BLANKROOT ARCHIVES\"",
            ".SH \"BLANKROOT RESTORE\"",
            ".SH \"BLANKROOT SKIP-NEXT-BOOT\"",
            ".SH \"EXIT STATUS\"",
            ".SH \"KERNEL COMMAND LINE\"",
            ".SH ENVIRONMENT",
            ".SH FILES",
        ] {
            assert_eq!(page.matches(section).count(), 1, "{section}");
        }
        let mut cmd = cli::command();
        cmd.build();
        for c in cmd.get_subcommands().chain([&cmd]) {
            for arg in c.get_arguments() {
                if arg.is_positional() {
                    for name in arg.get_value_names().into_iter().flatten() {
                        assert!(page.contains(name.as_str()), "{} {name}", c.get_name());
                    }
                    continue;
                }
                let long = arg.get_long().expect("every option has a long name");
                let roff = format!("\\fB\\-\\-{}\\fR", long.replace('-', "\\-"));
                assert!(page.contains(&roff), "{} --{long}", c.get_name());
            }
        }
        for file in [
            "/etc/initrd\\-release",
            "/dev/kmsg",
            "/etc/blankroot/config.json",
        ] {
            assert!(page.contains(file), "{file}");
        }
    }

    #[test]
    fn usage_forms_become_one_line_each() {
        assert_eq!(
            one_line_forms("a --x\n    [--y]\n  (--z)\n       b --w\n\nc: [--v]\n   [--u]"),
            "a --x [--y] (--z)\nb --w\nc: [--v] [--u]"
        );
    }
}
