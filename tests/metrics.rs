//! `blankroot status --format prometheus` (issue 17): after a rollback of `/` and `/home` and a
//! `check --record`, the metrics parse with Prometheus' own text-format parser (the Python
//! client's, `python3-prometheus-client`), one series per target, with the values the records
//! and the archives hold.

mod common;
use common::*;
use std::fs;
use std::process::Command;

fn python() -> &'static str {
    // Debian's interpreter holds Debian's python3-prometheus-client.
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Parses the exposition text; returns "name{sorted labels} value" lines, or panics with the
/// parser's error.
fn parse(text: &str) -> Vec<String> {
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    assert fam.type == "gauge", fam
    assert fam.documentation, fam
    for s in fam.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#;
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (apt-get install python3-prometheus-client)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn status_as_prometheus_metrics_one_series_per_target() {
    if !root_or_skip("metrics") {
        return;
    }
    let img = Image::new(256);
    seed_layout(&img, false);
    {
        let m = img.mount();
        m.subvol("home-src");
        m.snapshot("home-src", "home-blank", true);
        m.write("home/canary", "x\n");
    }
    let dev = img.dev.to_str().unwrap();
    let cfg = img.dir.path().join("config.json");
    fs::write(
        &cfg,
        serde_json::json!({"targets": [
            {"mount_point": "/", "args": ["--device", dev, "--archive-dir", "old_roots"]},
            {"mount_point": "/home", "args": ["--device", dev, "--subvolume", "home", "--blank", "home-blank"]}
        ]})
        .to_string(),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let status = img.status_file();
    let st = status.to_str().unwrap();
    let run = |args: &[&str]| {
        Run::of(
            Command::new(binary())
                .args(args)
                .env("BLANKROOT_KMSG", img.kmsg_file())
                .env_remove("BLANKROOT_KERNEL_CMDLINE")
                .output()
                .unwrap(),
        )
    };
    run(&[
        "rollback",
        "--config",
        c,
        "--allow-outside-initrd",
        "--status-file",
        st,
    ])
    .ok();
    // The root's next boot is skipped: its record says why.
    run(&["skip-next-boot", "/", "--config", c]).ok();
    run(&[
        "rollback",
        "--config",
        c,
        "/",
        "--allow-outside-initrd",
        "--status-file",
        st,
    ])
    .ok();
    let record = img.dir.path().join("check.json");
    let chk = run(&["check", "--config", c, "--record", record.to_str().unwrap()]);
    assert!(chk.code == 0 || chk.code == 1, "{}", chk.stderr);
    let rec: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(rec["targets"][1]["mount_point"], "/home");

    let out = run(&[
        "status",
        "--format",
        "prometheus",
        "--status-file",
        st,
        "--config",
        c,
    ]);
    out.ok();
    let samples = parse(&out.stdout);
    let has = |want: &str| {
        assert!(
            samples.iter().any(|s| s == want),
            "no sample {want:?} in:\n{}",
            samples.join("\n")
        )
    };
    // Not this boot's initrd: the records are from this boot all the same (same boot id).
    has("blankroot_rollback_success{mount_point=/} 1.0");
    has("blankroot_rollback_success{mount_point=/home} 1.0");
    has("blankroot_rollback_skipped{mount_point=/,reason=skip-next-boot} 1.0");
    has("blankroot_rollback_skipped{mount_point=/home,reason=} 0.0");
    has("blankroot_archives{mount_point=/} 1.0");
    assert!(
        samples.iter().any(|s| s.starts_with("blankroot_rollback_info{action=rolled-back,filesystem=btrfs,mount_point=/home,target=home,version=")),
        "{samples:?}"
    );
    assert!(samples
        .iter()
        .any(|s| s.starts_with("blankroot_check_findings{mount_point=/home,severity=problem}")));
    assert!(samples
        .iter()
        .any(|s| s.starts_with("blankroot_rollback_duration_seconds{mount_point=/home}")));
    // Names as the naming guide asks: the prefix, base units.
    for s in &samples {
        let name = s.split('{').next().unwrap();
        assert!(name.starts_with("blankroot_"), "{name}");
        assert!(!name.contains("_ms") && !name.contains("milli"), "{name}");
    }
    // A target whose record is missing is a series too, not a failure to write the file.
    fs::remove_file(img.dir.path().join("status.home.json")).unwrap();
    let out = run(&[
        "status",
        "--format",
        "prometheus",
        "--status-file",
        st,
        "--config",
        c,
    ]);
    out.ok();
    let samples = parse(&out.stdout);
    assert!(
        samples
            .iter()
            .any(|s| s == "blankroot_rollback_success{mount_point=/home} 0.0"),
        "{samples:?}"
    );
    assert!(samples
        .iter()
        .any(|s| s.starts_with("blankroot_rollback_info{action=missing")));
    // --output: the same text, in a file written whole (nothing else left in its directory),
    // replaced on the next run; the text format has no file form.
    let dir = img.dir.path().join("textfile");
    let prom = dir.join("blankroot.prom");
    let p = prom.to_str().unwrap();
    for _ in 0..2 {
        let written = run(&[
            "status",
            "--format",
            "prometheus",
            "--status-file",
            st,
            "--config",
            c,
            "--output",
            p,
        ]);
        written.ok();
        assert_eq!(written.stdout, "", "--output prints nothing");
        assert_eq!(fs::read_to_string(&prom).unwrap(), out.stdout);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["blankroot.prom"]);
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&prom).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let before = fs::read_to_string(&prom).unwrap();
    run(&["status", "--status-file", st, "--output", p]).fails(
        2,
        "--output writes JSON or metrics: add --format prometheus",
    );
    assert_eq!(fs::read_to_string(&prom).unwrap(), before);
    // --json and --format json are one thing; text is the default.
    run(&[
        "status",
        "--json",
        "--format",
        "prometheus",
        "--status-file",
        st,
    ])
    .fails(2, "--json is --format json");
}
