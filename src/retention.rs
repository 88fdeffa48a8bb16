//! An archive is named by the UTC time it was archived, `2026-11-22T02:20:50Z`, with `.1`, `.2`...
//! appended when archives are made within one second; a new name always sorts after every
//! existing archive, so "newest" is simply the highest name (in time and sequence order). Ages
//! come from the name, never from mtime (`mv` keeps the root's mtime, so a fresh archive can look
//! months old). Archives made by the impermanence README's script (`2024-03-5_10:11:12`,
//! unpadded day) are understood too, so they sort and age by the same rules after a migration.

use crate::time::{civil_from_unix, unix_from_civil, Civil};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp {
    pub secs: i64,
    pub seq: u32,
}

pub fn format(stamp: Stamp) -> String {
    let c = civil_from_unix(stamp.secs);
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    match stamp.seq {
        0 => base,
        n => format!("{base}.{n}"),
    }
}

/// The time in an archive's name, or `None` for a name that is not an archive's.
pub fn parse(name: &str) -> Option<Stamp> {
    let (main, seq) = match name.split_once('.') {
        Some((main, seq)) => (main, parse_num(seq, 1, 9)?),
        None => (name, 0),
    };
    let secs = parse_ours(main).or_else(|| parse_impermanence(main))?;
    Some(Stamp {
        secs,
        seq: seq as u32,
    })
}

fn parse_num(s: &str, min_len: usize, max_len: usize) -> Option<i64> {
    let ok = (min_len..=max_len).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| s.parse().ok()).flatten()
}

/// `YYYY-MM-DDTHH:MM:SSZ`
fn parse_ours(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    civil(
        &s[0..4],
        &s[5..7],
        &s[8..10],
        &s[11..13],
        &s[14..16],
        &s[17..19],
        2,
    )
}

/// `date "+%Y-%m-%-d_%H:%M:%S"`, as in the impermanence README.
fn parse_impermanence(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('_')?;
    let mut d = date.split('-');
    let mut t = time.split(':');
    let (y, mo, da) = (d.next()?, d.next()?, d.next()?);
    let (h, mi, se) = (t.next()?, t.next()?, t.next()?);
    if d.next().is_some() || t.next().is_some() || y.len() != 4 {
        return None;
    }
    civil(y, mo, da, h, mi, se, 1)
}

fn civil(y: &str, mo: &str, d: &str, h: &str, mi: &str, s: &str, min_len: usize) -> Option<i64> {
    let n = |v: &str| parse_num(v, min_len, 2).map(|x| x as u32);
    unix_from_civil(Civil {
        year: parse_num(y, 4, 4)?,
        month: n(mo)?,
        day: n(d)?,
        hour: n(h)?,
        minute: n(mi)?,
        second: n(s)?,
    })
}

/// The name of an archive made at `now`: it sorts after every archive in `existing` (so a
/// sequence number is never used twice, even after its archive was pruned), and no entry of the
/// directory has it (`taken`). When the clock is not ahead of the newest archive (two boots in
/// one second, or a board without a real-time clock that starts every boot at the same time),
/// the name continues after the newest one; the second value says the clock was behind it.
pub fn next_name(
    now: i64,
    existing: impl IntoIterator<Item = Stamp>,
    taken: impl Fn(&str) -> bool,
) -> (String, bool) {
    let newest = existing.into_iter().max();
    let first = match newest {
        Some(n) if n.secs >= now => Stamp {
            secs: n.secs,
            seq: n.seq + 1,
        },
        _ => Stamp { secs: now, seq: 0 },
    };
    let name = (first.seq..)
        .map(|seq| {
            format(Stamp {
                secs: first.secs,
                seq,
            })
        })
        .find(|name| !taken(name))
        .expect("some sequence number is free");
    (name, newest.is_some_and(|n| n.secs > now))
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Keep at most this many archives, counting the one made by this run.
    pub keep: Option<u32>,
    /// Remove archives whose name is older than this many days.
    pub keep_days: Option<u32>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Archives to delete, oldest first.
    pub prune: Vec<String>,
    pub warnings: Vec<String>,
}

/// Which of the existing `archives` to prune, this run adding `adding` archives of its own
/// (newer than all of them).
///
/// The newest archive always survives: the one this run adds, or, when it adds none, the newest
/// existing one.
pub fn select(archives: &[(String, Stamp)], policy: Policy, now: i64, adding: usize) -> Verdict {
    let mut sorted: Vec<&(String, Stamp)> = archives.iter().collect();
    crate::sort::by(&mut sorted, &|a, b| {
        b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0))
    });
    let mut verdict = Verdict::default();
    let newest = sorted.first().map(|a| a.1.secs);
    let clock_behind = newest.is_some_and(|n| now < n);
    if clock_behind && policy.keep_days.is_some() {
        verdict.warnings.push(format!(
            "the clock ({}) is behind the newest archive ({}): not pruning by age this boot",
            format(Stamp { secs: now, seq: 0 }),
            sorted[0].0
        ));
    }
    let room = policy.keep.map(|k| (k as usize).saturating_sub(adding));
    for (index, (name, stamp)) in sorted.iter().map(|a| (&a.0, a.1)).enumerate() {
        if index == 0 && adding == 0 {
            continue;
        }
        let over_count = room.is_some_and(|room| index >= room);
        let too_old = !clock_behind
            && policy
                .keep_days
                .is_some_and(|days| stamp.secs < now - i64::from(days) * 86_400);
        if over_count || too_old {
            verdict.prune.push(name.clone());
        }
    }
    verdict.prune.reverse();
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_795_314_050; // 2026-11-22T02:20:50Z
    const DAY: i64 = 86_400;

    fn archives(ages_days: &[i64]) -> Vec<(String, Stamp)> {
        ages_days
            .iter()
            .map(|d| {
                let s = Stamp {
                    secs: NOW - d * DAY,
                    seq: 0,
                };
                (format(s), s)
            })
            .collect()
    }

    #[test]
    fn names_round_trip_and_sort() {
        let a = Stamp { secs: NOW, seq: 0 };
        assert_eq!(format(a), "2026-11-22T02:20:50Z");
        assert_eq!(parse("2026-11-22T02:20:50Z"), Some(a));
        assert_eq!(
            parse("2026-11-22T02:20:50Z.12"),
            Some(Stamp { secs: NOW, seq: 12 })
        );
        assert!(
            format(a)
                < format(Stamp {
                    secs: NOW + 1,
                    seq: 0
                })
        );
        assert!(format(a) < format(Stamp { secs: NOW, seq: 1 }));
    }

    #[test]
    fn understands_impermanence_readme_names() {
        assert_eq!(
            parse("2026-11-22_02:20:50"),
            Some(Stamp { secs: NOW, seq: 0 })
        );
        assert_eq!(
            parse("2026-3-5_10:00:00").unwrap().secs,
            unix_from_civil(Civil {
                year: 2026,
                month: 3,
                day: 5,
                hour: 10,
                minute: 0,
                second: 0
            })
            .unwrap()
        );
    }

    #[test]
    fn other_names_are_not_archives() {
        for name in [
            "root",
            "2026-11-22",
            "2026-13-01T00:00:00Z",
            "2026-11-22T02:20:50Z.",
            "2026-11-22T02:20:50Z.x",
            "x2026-11-22T02:20:50Z",
            "2026-02-30T00:00:00Z",
        ] {
            assert_eq!(parse(name), None, "{name}");
        }
    }

    fn stamps(names: &[&str]) -> Vec<Stamp> {
        names.iter().map(|n| parse(n).unwrap()).collect()
    }

    #[test]
    fn a_new_name_sorts_after_every_existing_archive() {
        let none = |_: &str| false;
        assert_eq!(
            next_name(NOW, [], none),
            ("2026-11-22T02:20:50Z".into(), false)
        );
        let older = stamps(&["2026-11-21T00:00:00Z.4"]);
        assert_eq!(next_name(NOW, older, none).0, "2026-11-22T02:20:50Z");
        // Same second: after the highest sequence number, even when lower ones were pruned.
        let same = stamps(&["2026-11-22T02:20:50Z.2"]);
        assert_eq!(next_name(NOW, same, none).0, "2026-11-22T02:20:50Z.3");
        // Clock behind the newest archive: continue after it, and say so.
        let ahead = stamps(&["2026-11-23T00:00:00Z", "2026-11-20T00:00:00Z.7"]);
        assert_eq!(
            next_name(NOW, ahead, none),
            ("2026-11-23T00:00:00Z.1".into(), true)
        );
        // A name some other entry has (a plain directory) is skipped.
        let taken = |n: &str| n == "2026-11-22T02:20:50Z";
        assert_eq!(next_name(NOW, [], taken).0, "2026-11-22T02:20:50Z.1");
    }

    #[test]
    fn six_boots_in_one_second_keep_the_newest_two() {
        // Issue 9: with names reused after pruning, `.2` stayed forever as the "newest".
        let mut kept: Vec<(String, Stamp)> = Vec::new();
        let policy = Policy {
            keep: Some(2),
            keep_days: None,
        };
        for boot in 0..6 {
            let v = select(&kept, policy, NOW, 1);
            kept.retain(|(n, _)| !v.prune.contains(n));
            let (name, _) = next_name(NOW, kept.iter().map(|a| a.1), |_| false);
            kept.push((name.clone(), parse(&name).unwrap()));
            if boot >= 1 {
                assert_eq!(kept.len(), 2, "boot {boot}: {kept:?}");
                let newest = kept.iter().max_by_key(|a| a.1).unwrap();
                assert_eq!(
                    newest.0, name,
                    "boot {boot}: the newest is the one just made"
                );
            }
        }
        let names: Vec<&str> = kept.iter().map(|a| a.0.as_str()).collect();
        assert_eq!(names, ["2026-11-22T02:20:50Z.4", "2026-11-22T02:20:50Z.5"]);
    }

    #[test]
    fn keep_counts_the_new_archive() {
        let v = select(
            &archives(&[1, 2, 3, 4]),
            Policy {
                keep: Some(3),
                keep_days: None,
            },
            NOW,
            1,
        );
        assert_eq!(
            v.prune,
            vec![
                format(Stamp {
                    secs: NOW - 4 * DAY,
                    seq: 0
                }),
                format(Stamp {
                    secs: NOW - 3 * DAY,
                    seq: 0
                })
            ]
        );
    }

    #[test]
    fn keep_days_uses_the_name_and_spares_the_newest_when_not_adding() {
        let v = select(
            &archives(&[40, 50]),
            Policy {
                keep: None,
                keep_days: Some(30),
            },
            NOW,
            0,
        );
        assert_eq!(
            v.prune,
            vec![format(Stamp {
                secs: NOW - 50 * DAY,
                seq: 0
            })]
        );
        let v = select(
            &archives(&[40, 50]),
            Policy {
                keep: None,
                keep_days: Some(30),
            },
            NOW,
            1,
        );
        assert_eq!(v.prune.len(), 2);
    }

    #[test]
    fn a_clock_behind_the_archives_prunes_nothing_by_age() {
        let v = select(
            &archives(&[-10, 40]),
            Policy {
                keep: None,
                keep_days: Some(30),
            },
            NOW,
            1,
        );
        assert!(v.prune.is_empty());
        assert_eq!(v.warnings.len(), 1);
    }

    proptest! {
        #[test]
        fn the_newest_survives_and_the_count_holds(ages in proptest::collection::btree_set(0i64..400, 0..12), keep in 1u32..6, days in proptest::option::of(0u32..100), adding in 0usize..3) {
            let list = archives(&ages.into_iter().collect::<Vec<_>>());
            let v = select(&list, Policy { keep: Some(keep), keep_days: days }, NOW, adding);
            let left = list.len() - v.prune.len();
            prop_assert!(left + adding <= (keep as usize).max(adding));
            if adding == 0 && !list.is_empty() {
                let newest = list.iter().max_by_key(|a| a.1).unwrap();
                prop_assert!(!v.prune.contains(&newest.0));
            }
        }
    }
}
