//! The status as Prometheus metrics (text exposition format 0.0.4), for node-exporter's textfile
//! collector: one series per target, labelled with its mount point. Names and units follow
//! Prometheus' naming guide (`blankroot_` prefix, base units: `_seconds`, `_bytes`; `_info` for
//! the labels that describe the last run).
//!
//! Pure: the command gathers records, archive listings and the last check's counts.

use crate::status::{Action, Status};
use std::fmt::Write;

/// What is known of one target.
#[derive(Debug, Clone, Default)]
pub struct Target<'a> {
    pub mount_point: String,
    /// The last run's record, if there is one.
    pub record: Option<&'a Status>,
    /// The record is from this boot.
    pub this_boot: bool,
    /// The archives kept, and the bytes they hold where the filesystem tells.
    pub archives: Option<Archives>,
    /// The findings of the last `blankroot check` of the target.
    pub check: Option<Check>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Archives {
    pub count: u64,
    /// Bytes of the archives whose size is known.
    pub bytes: u64,
    /// Archives whose size is not known (Btrfs without quotas).
    pub size_unknown: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Check {
    pub problems: u64,
    pub warnings: u64,
    /// Of those, what must persist and would be lost.
    pub losses: u64,
    /// When it ran (Unix seconds).
    pub at: i64,
}

struct Family<'a> {
    name: &'a str,
    help: &'a str,
    lines: Vec<String>,
}

/// The metrics of every target, one family after the other.
pub fn render(targets: &[Target]) -> String {
    let f = |name, help| Family {
        name,
        help,
        lines: Vec::new(),
    };
    let mut success = f(
        "blankroot_rollback_success",
        "1 when the target's last rollback was done or skipped on purpose, 0 when it failed or did not run",
    );
    let mut this_boot = f(
        "blankroot_rollback_this_boot",
        "1 when the target's record is from this boot, 0 when it is older or missing",
    );
    let mut info = f(
        "blankroot_rollback_info",
        "What the target's last run did (action: rolled-back, archived, skipped, failed, missing)",
    );
    let mut skipped = f(
        "blankroot_rollback_skipped",
        "1 when the target's last run was skipped, with why (kernel-command-line, skip-next-boot)",
    );
    let mut duration = f(
        "blankroot_rollback_duration_seconds",
        "How long the target's last run took",
    );
    let mut started = f(
        "blankroot_rollback_start_time_seconds",
        "When the target's last run started, Unix time",
    );
    let mut warnings = f(
        "blankroot_rollback_warnings",
        "Warnings of the target's last run",
    );
    let mut archives = f(
        "blankroot_archives",
        "Archived old roots kept for the target",
    );
    let mut archive_bytes = f(
        "blankroot_archives_size_bytes",
        "Bytes the target's archives hold (those whose size the filesystem tells)",
    );
    let mut size_unknown = f(
        "blankroot_archives_size_unknown",
        "Archives of the target whose size is not known (Btrfs without quotas)",
    );
    let mut findings = f(
        "blankroot_check_findings",
        "Findings of the last blankroot check of the target, by severity (problem, warning, loss: must persist and would be lost)",
    );
    let mut checked = f(
        "blankroot_check_time_seconds",
        "When blankroot check last looked at the target, Unix time",
    );
    for t in targets {
        let mp = format!("mount_point=\"{}\"", label(&t.mount_point));
        let line = |fam: &mut Family, labels: &str, v: String| {
            fam.lines.push(format!("{}{{{labels}}} {v}", fam.name));
        };
        let ok = t.this_boot && t.record.is_some_and(Status::succeeded);
        line(&mut success, &mp, u8::from(ok).to_string());
        line(&mut this_boot, &mp, u8::from(t.this_boot).to_string());
        match t.record {
            Some(r) => {
                let opt = |v: &Option<String>| label(v.as_deref().unwrap_or(""));
                line(
                    &mut info,
                    &format!(
                        "{mp},action=\"{}\",filesystem=\"{}\",target=\"{}\",version=\"{}\"",
                        r.action.word(),
                        opt(&r.filesystem),
                        opt(&r.target),
                        label(&r.version)
                    ),
                    "1".into(),
                );
                let is_skip = r.action == Action::Skipped;
                line(
                    &mut skipped,
                    &format!("{mp},reason=\"{}\"", opt(&r.skip_reason)),
                    u8::from(is_skip).to_string(),
                );
                line(&mut duration, &mp, seconds(r.duration_ms));
                if let Some(at) = crate::time::parse_rfc3339(&r.started_at) {
                    line(&mut started, &mp, at.to_string());
                }
                line(&mut warnings, &mp, r.warnings.len().to_string());
            }
            None => line(
                &mut info,
                &format!("{mp},action=\"missing\",filesystem=\"\",target=\"\",version=\"\""),
                "1".into(),
            ),
        }
        if let Some(a) = t.archives {
            line(&mut archives, &mp, a.count.to_string());
            line(&mut archive_bytes, &mp, a.bytes.to_string());
            line(&mut size_unknown, &mp, a.size_unknown.to_string());
        }
        if let Some(c) = t.check {
            for (sev, n) in [
                ("problem", c.problems),
                ("warning", c.warnings),
                ("loss", c.losses),
            ] {
                line(
                    &mut findings,
                    &format!("{mp},severity=\"{sev}\""),
                    n.to_string(),
                );
            }
            line(&mut checked, &mp, c.at.to_string());
        }
    }
    let mut out = String::new();
    for fam in [
        success,
        this_boot,
        info,
        skipped,
        duration,
        started,
        warnings,
        archives,
        archive_bytes,
        size_unknown,
        findings,
        checked,
    ] {
        if fam.lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {} {}", fam.name, fam.help);
        let _ = writeln!(out, "# TYPE {} gauge", fam.name);
        for l in fam.lines {
            out += &l;
            out.push('\n');
        }
    }
    out
}

/// A label value: `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_series_per_target_with_escaped_labels() {
        let mut r = Status::new(Action::Archived);
        r.filesystem = Some("btrfs".into());
        r.target = Some("ro\"ot\\".into());
        r.duration_ms = 1234;
        r.started_at = "2026-12-06T04:00:00Z".into();
        let mut s = Status::new(Action::Skipped);
        s.skip_reason = Some("skip-next-boot".into());
        let text = render(&[
            Target {
                mount_point: "/".into(),
                record: Some(&r),
                this_boot: true,
                archives: Some(Archives {
                    count: 2,
                    bytes: 4096,
                    size_unknown: 0,
                }),
                check: Some(Check {
                    problems: 1,
                    warnings: 2,
                    losses: 1,
                    at: 5,
                }),
            },
            Target {
                mount_point: "/home".into(),
                record: Some(&s),
                this_boot: false,
                ..Target::default()
            },
            Target {
                mount_point: "/srv".into(),
                ..Target::default()
            },
        ]);
        assert!(
            text.contains("blankroot_rollback_success{mount_point=\"/\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("blankroot_rollback_success{mount_point=\"/home\"} 0\n"));
        assert!(text.contains(r#"target="ro\"ot\\""#), "{text}");
        assert!(text.contains("blankroot_rollback_duration_seconds{mount_point=\"/\"} 1.234\n"));
        assert!(
            text.contains("blankroot_rollback_start_time_seconds{mount_point=\"/\"} 1796529600\n"),
            "{text}"
        );
        assert!(text.contains(
            "blankroot_rollback_skipped{mount_point=\"/home\",reason=\"skip-next-boot\"} 1\n"
        ));
        assert!(text.contains("blankroot_rollback_info{mount_point=\"/srv\",action=\"missing\""));
        assert!(text.contains("blankroot_check_findings{mount_point=\"/\",severity=\"loss\"} 1\n"));
        assert!(text.contains("blankroot_archives_size_bytes{mount_point=\"/\"} 4096\n"));
        // Every family once, HELP before TYPE before its samples.
        assert_eq!(
            text.matches("# TYPE blankroot_rollback_success gauge")
                .count(),
            1
        );
    }
}
