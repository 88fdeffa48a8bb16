//! UTC calendar arithmetic on Unix seconds (no time zones: archive names are UTC).
//!
//! Kept by hand on purpose: four small functions (a property test round-trips times from
//! 1811 to 2286), and blankroot needs what the small crates lack: times before 1970 (the clock of a
//! board without a real-time clock can read anything; `humantime` panics on them) and strict
//! parsing of archive names back into seconds. `time`, `chrono` or `jiff` would do it, each with
//! several crates and far more code than blankroot would use.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, negative before 1970 (a machine without a real-time clock).
pub fn unix_now() -> i64 {
    unix_of(SystemTime::now())
}

pub fn unix_of(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn civil_from_unix(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        minute: (rem % 3600 / 60) as u32,
        second: (rem % 60) as u32,
    }
}

/// Unix seconds of a UTC date and time, `None` when a field is out of range.
pub fn unix_from_civil(c: Civil) -> Option<i64> {
    let leap = (c.year % 4 == 0 && c.year % 100 != 0) || c.year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let ok = (1..=12).contains(&c.month)
        && c.day >= 1
        && c.day <= month_days[(c.month - 1) as usize]
        && c.hour < 24
        && c.minute < 60
        && c.second < 60;
    ok.then(|| {
        days_from_civil(c.year, c.month, c.day) * 86_400
            + i64::from(c.hour) * 3600
            + i64::from(c.minute) * 60
            + i64::from(c.second)
    })
}

/// `2026-11-22T02:20:50Z`
pub fn rfc3339(secs: i64) -> String {
    let c = civil_from_unix(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// The Unix seconds of `2026-11-22T02:20:50Z` (what [`rfc3339`] writes), `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
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
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = &s[r];
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())
            .flatten()
    };
    unix_from_civil(Civil {
        year: i64::from(num(0..4)?),
        month: num(5..7)?,
        day: num(8..10)?,
        hour: num(11..13)?,
        minute: num(14..16)?,
        second: num(17..19)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_what_it_writes() {
        assert_eq!(parse_rfc3339("2026-12-06T04:00:00Z"), Some(1_796_529_600));
        assert_eq!(parse_rfc3339(&rfc3339(1_234_567_890)), Some(1_234_567_890));
        for bad in [
            "",
            "2026-12-06 04:00:00Z",
            "2026-13-06T04:00:00Z",
            "2026-12-06T04:00:00",
            "+026-12-06T04:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_314_050), "2026-11-22T02:20:50Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    proptest! {
        #[test]
        fn civil_round_trips(secs in -5_000_000_000i64..10_000_000_000i64) {
            prop_assert_eq!(unix_from_civil(civil_from_unix(secs)), Some(secs));
        }
    }
}
