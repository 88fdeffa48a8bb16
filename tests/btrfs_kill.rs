//! SIGKILL at random instants (issue 9): in delete, empty and archive mode, a run is killed
//! after a random delay within its usual duration, many times over. After every kill the root
//! exists and everything beside it is as it was; the next run finishes the job exactly.
//! `BLANKROOT_KILL_SEED` and `BLANKROOT_KILL_ROUNDS` change the delays and their number.

mod common;
use common::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// xorshift64*: reproducible delays from a seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn kill_at_random(args: &[&str], check: impl Fn(&Mount, usize)) {
    let img = Image::new(256);
    seed_layout(&img, true);
    let persistent = persistent_state(&img.mount());
    // How long a run takes here (the quickest of three: the machine may be busy now and idle
    // later): the delays spread over that.
    let mut took = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        img.rollback(args).ok();
        took.push(t.elapsed());
    }
    took.sort();
    let span = (took[0].as_micros() as u64).max(1000);
    let seed = env_u64("BLANKROOT_KILL_SEED", 0x5eed_b1a2_c0de);
    let rounds = env_u64("BLANKROOT_KILL_ROUNDS", 40) as usize;
    let mut rng = Rng(seed | 1);
    let mut killed = 0;
    for round in 0..rounds {
        img.mount()
            .write("root/etc/canary", &format!("round {round}\n"));
        let delay = Duration::from_micros(rng.below(span));
        let mut child = img
            .blankroot(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let _ = child.wait();
        killed += usize::from(!finished);
        img.unmount_leftovers();
        let what = format!("{args:?} round {round} (seed {seed:#x}, killed after {delay:?})");
        {
            let m = img.mount();
            assert!(m.is_subvolume("root"), "{what}: no root");
            assert_eq!(
                persistent_state(&m),
                persistent,
                "{what}: lost what persists"
            );
        }
        img.rollback(args).ok();
        let m = img.mount();
        assert!(
            !m.exists("root/etc/canary"),
            "{what}: the rerun left the old root"
        );
        assert!(
            !m.exists(".blankroot-new-root"),
            "{what}: staging left behind"
        );
        assert_eq!(persistent_state(&m), persistent, "{what}");
        check(&m, round);
    }
    eprintln!("{args:?}: {killed} of {rounds} runs killed part-way (span {span} us)");
    assert!(
        killed > rounds / 4,
        "too few runs were killed to prove anything"
    );
}

#[test]
fn delete_mode_killed_at_random_instants() {
    if !root_or_skip("kill_delete") {
        return;
    }
    kill_at_random(&[], |m, round| {
        assert_eq!(m.tree("root"), m.tree("root-blank"), "round {round}");
        let names: Vec<String> = m.subvolumes().into_keys().collect();
        assert_eq!(
            names,
            ["home", "log", "nix", "persist", "root", "root-blank"]
        );
    });
}

#[test]
fn empty_mode_killed_at_random_instants() {
    if !root_or_skip("kill_empty") {
        return;
    }
    kill_at_random(&["--empty"], |m, round| {
        assert!(m.ls("root").is_empty(), "round {round}");
    });
}

#[test]
fn archive_mode_killed_at_random_instants() {
    if !root_or_skip("kill_archive") {
        return;
    }
    kill_at_random(
        &["--archive-dir", "old_roots", "--keep", "2"],
        |m, round| {
            assert_eq!(m.tree("root"), m.tree("root-blank"), "round {round}");
            let archives = m.ls("old_roots");
            assert!(archives.len() <= 2, "round {round}: {archives:?}");
            let canary = format!("round {round}\n");
            let kept = archives.iter().any(|a| {
                std::fs::read_to_string(m.path(&format!("old_roots/{a}/etc/canary"))).ok()
                    == Some(canary.clone())
            });
            assert!(
                kept,
                "round {round}: the killed run's old root is in no archive: {archives:?}"
            );
            for a in &archives {
                assert_eq!(
                    m.mark(&format!("old_roots/{a}")).as_deref(),
                    Some(a.as_str())
                );
            }
        },
    );
}
