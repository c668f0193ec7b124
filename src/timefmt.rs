//! Fast timestamp parsing for log prefixes and RFC 3339 output.
//!
//! Times are kept as Unix seconds (UTC) on the hot path; chrono is used only for output.

use chrono::{DateTime, Utc};

/// A parsed log timestamp. BSD syslog stamps carry no year: `year` is `None` until inferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub year: Option<i32>,
    pub month: u32,
    pub day: u32,
    /// Seconds since midnight (local to the stamp).
    pub secs: u32,
    /// Offset from UTC in seconds, when the stamp carries one.
    pub offset: Option<i32>,
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil (year, month, day) of Unix seconds, UTC (proleptic Gregorian).
pub fn civil_of(unix: i64) -> (i32, u32, u32) {
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400) as i32 + i32::from(m <= 2);
    (y, m, d)
}

impl Stamp {
    /// Unix seconds (UTC) for this stamp with `year` (ignored when the stamp has its own).
    /// Stamps without an offset are taken as UTC.
    pub fn to_unix(&self, year: i32) -> i64 {
        let y = self.year.unwrap_or(year);
        days_from_civil(y, self.month, self.day) * 86_400 + self.secs as i64
            - self.offset.unwrap_or(0) as i64
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

fn hms(b: &[u8], at: usize) -> Option<u32> {
    let h = digits(b, at, 2)?;
    if b.get(at + 2) != Some(&b':') || b.get(at + 5) != Some(&b':') {
        return None;
    }
    let m = digits(b, at + 3, 2)?;
    let s = digits(b, at + 6, 2)?;
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + s.min(59))
}

fn valid_date(y: i32, m: u32, d: u32) -> bool {
    (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Parse `±HH:MM`, `±HHMM` or `Z` at `at`; returns (offset seconds, bytes used).
fn offset(b: &[u8], at: usize) -> Option<(i32, usize)> {
    match b.get(at)? {
        b'Z' | b'z' => Some((0, 1)),
        c @ (b'+' | b'-') => {
            let sign = if *c == b'-' { -1 } else { 1 };
            let h = digits(b, at + 1, 2)?;
            let (m, used) = if b.get(at + 3) == Some(&b':') {
                (digits(b, at + 4, 2)?, 6)
            } else {
                (digits(b, at + 3, 2)?, 5)
            };
            if h > 23 || m > 59 {
                return None;
            }
            Some((sign * (h as i32 * 3600 + m as i32 * 60), used))
        }
        _ => None,
    }
}

/// RFC 3339 (`2021-01-24T14:43:33.171226+00:00`, `…Z`, `…+0100`); returns the stamp and its length.
pub fn parse_rfc3339(b: &[u8]) -> Option<(Stamp, usize)> {
    // the fixed part at fixed places: every byte is read once, with no bounds checks
    let h = b.first_chunk::<19>()?;
    if h[4] != b'-' || h[7] != b'-' || h[10] != b'T' || h[13] != b':' || h[16] != b':' {
        return None;
    }
    let d = |i: usize| u32::from(h[i].wrapping_sub(b'0'));
    let most = d(0)
        .max(d(1))
        .max(d(2))
        .max(d(3))
        .max(d(5))
        .max(d(6))
        .max(d(8));
    if most
        .max(d(9))
        .max(d(11))
        .max(d(12))
        .max(d(14))
        .max(d(15))
        .max(d(17))
        .max(d(18))
        > 9
    {
        return None;
    }
    let two = |i: usize| d(i) * 10 + d(i + 1);
    let y = (two(0) * 100 + two(2)) as i32;
    let (m, day) = (two(5), two(8));
    let (hh, mm, ss) = (two(11), two(14), two(17));
    if !valid_date(y, m, day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let secs = hh * 3600 + mm * 60 + ss.min(59);
    let mut i = 19;
    if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
    }
    let (off, used) = offset(b, i)?;
    Some((
        Stamp {
            year: Some(y),
            month: m,
            day,
            secs,
            offset: Some(off),
        },
        i + used,
    ))
}

/// [`parse_rfc3339`] as it was written first, field by field: the reference its tests compare
/// with.
#[cfg(test)]
fn parse_rfc3339_reference(b: &[u8]) -> Option<(Stamp, usize)> {
    let y = digits(b, 0, 4)? as i32;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    let m = digits(b, 5, 2)?;
    let d = digits(b, 8, 2)?;
    if !valid_date(y, m, d) {
        return None;
    }
    let secs = hms(b, 11)?;
    let mut i = 19;
    if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
    }
    let (off, used) = offset(b, i)?;
    Some((
        Stamp {
            year: Some(y),
            month: m,
            day: d,
            secs,
            offset: Some(off),
        },
        i + used,
    ))
}

/// Exim's own stamp: `2019-02-28 13:51:09`, optional `.712` milliseconds, optional ` +0100`.
pub fn parse_exim(b: &[u8]) -> Option<(Stamp, usize)> {
    let y = digits(b, 0, 4)? as i32;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(10) != Some(&b' ') {
        return None;
    }
    let m = digits(b, 5, 2)?;
    let d = digits(b, 8, 2)?;
    if !valid_date(y, m, d) {
        return None;
    }
    let secs = hms(b, 11)?;
    let (i, off) = exim_tail(b);
    Some((
        Stamp {
            year: Some(y),
            month: m,
            day: d,
            secs,
            offset: off,
        },
        i,
    ))
}

/// Where an Exim stamp whose date and time fill `b[..19]` ends, and its offset: after an
/// optional fraction (`.123`) and an optional ` +hhmm`.
pub fn exim_tail(b: &[u8]) -> (usize, Option<i32>) {
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
    }
    let mut off = None;
    if b.get(i) == Some(&b' ') && matches!(b.get(i + 1), Some(b'+') | Some(b'-')) {
        if let Some((o, used)) = offset(b, i + 1) {
            if used == 5 {
                off = Some(o);
                i += 1 + used;
            }
        }
    }
    (i, off)
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// BSD syslog `Feb  2 12:15:21` (space-padded) or `Apr 09 09:29:47` (zero-padded, postlogd).
pub fn parse_bsd(b: &[u8]) -> Option<(Stamp, usize)> {
    let mon = b.get(0..3)?;
    let month = MONTHS.iter().position(|m| &m[..] == mon)? as u32 + 1;
    if b.get(3) != Some(&b' ') {
        return None;
    }
    let d1 = *b.get(4)?;
    let d2 = *b.get(5)?;
    let day = match (d1, d2) {
        (b' ', c) if c.is_ascii_digit() => (c - b'0') as u32,
        (a, c) if a.is_ascii_digit() && c.is_ascii_digit() => ((a - b'0') * 10 + (c - b'0')) as u32,
        _ => return None,
    };
    // (a leap year's month lengths: the year is not known yet)
    if day == 0 || day > days_in_month(2000, month) || b.get(6) != Some(&b' ') {
        return None;
    }
    let secs = hms(b, 7)?;
    Some((
        Stamp {
            year: None,
            month,
            day,
            secs,
            offset: None,
        },
        15,
    ))
}

/// Assign a year to a BSD stamp of `month` and `day` given a reference (year, month, day): the
/// log's newest day (day 31 when only the month is known). A stamp later than the reference
/// belongs to the year before: December lines in a file last written in January, or a line of
/// the 29th in a file last written on the 6th of the same month. (A day of slack allows for
/// stamps in local time ahead of a reference in UTC.)
pub fn infer_year(month: u32, day: u32, reference: (i32, u32, u32)) -> i32 {
    if (month, day) > (reference.1, reference.2 + 1) {
        reference.0 - 1
    } else {
        reference.0
    }
}

/// The civil (year, month, day) of Unix seconds, UTC: the reference of [`infer_year`].
pub fn reference_of(unix: i64) -> (i32, u32, u32) {
    civil_of(unix)
}

/// Unix seconds as RFC 3339 UTC with whole seconds (`2026-11-01T00:00:07Z`).
pub fn rfc3339(unix: i64) -> String {
    let mut s = String::with_capacity(20);
    // writing to a String cannot fail
    let _ = write_rfc3339(unix, &mut s);
    s
}

/// Write [`rfc3339`] of `unix` to `out` without allocating (for the common years).
pub fn write_rfc3339(unix: i64, out: &mut impl std::fmt::Write) -> std::fmt::Result {
    if let Some(d) = rfc3339_digits(unix) {
        if let Ok(s) = std::str::from_utf8(&d) {
            return out.write_str(s);
        }
    }
    match DateTime::<Utc>::from_timestamp(unix, 0) {
        Some(t) => write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%SZ")),
        None => out.write_str("invalid-time"),
    }
}

/// The stamp of years 0000-9999 written by hand: every table row has two stamps, and chrono's
/// formatter parses its format string each time. Chrono writes the rest (with a sign, or
/// "invalid-time").
fn rfc3339_digits(unix: i64) -> Option<[u8; 20]> {
    if !(-62_167_219_200..=253_402_300_799).contains(&unix) {
        return None;
    }
    let (y, m, d) = civil_of(unix);
    let year = u32::try_from(y).ok()?;
    let secs = unix.rem_euclid(86_400) as u32;
    // each value below 100 (the year in two halves)
    let two = |v: u32| [b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8];
    let [y1, y2] = two(year / 100);
    let [y3, y4] = two(year % 100);
    let [m1, m2] = two(m);
    let [d1, d2] = two(d);
    let [h1, h2] = two(secs / 3600);
    let [i1, i2] = two(secs / 60 % 60);
    let [s1, s2] = two(secs % 60);
    Some([
        y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2, b'T', h1, h2, b':', i1, i2, b':', s1, s2, b'Z',
    ])
}

/// Parse a user-given date or time (`2018-10-02`, `2018-10-02T13:00:00Z`) as Unix seconds;
/// a bare date means its start (UTC).
pub fn parse_user_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() == 10 {
        let y = digits(b, 0, 4)? as i32;
        let m = digits(b, 5, 2)?;
        let d = digits(b, 8, 2)?;
        if b[4] != b'-' || b[7] != b'-' || !valid_date(y, m, d) {
            return None;
        }
        return Some(days_from_civil(y, m, d) * 86_400);
    }
    let (st, len) = parse_rfc3339(b)?;
    (len == b.len()).then(|| st.to_unix(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The hand-written formatter writes what chrono writes, for any second, and the
        /// civil date round-trips through `days_from_civil`.
        #[test]
        fn rfc3339_matches_chrono(t in proptest::prop_oneof![
            -62_167_219_300i64..-62_167_219_100,
            -100_000_000_000i64..400_000_000_000,
            253_402_300_700i64..253_402_300_900,
            i64::MIN..i64::MAX,
        ]) {
            let chrono = match DateTime::<Utc>::from_timestamp(t, 0) {
                Some(x) => x.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                None => String::from("invalid-time"),
            };
            proptest::prop_assert_eq!(rfc3339(t), chrono);
            if (-1_000_000_000_000i64..1_000_000_000_000).contains(&t) {
                let (y, m, d) = civil_of(t);
                proptest::prop_assert_eq!(days_from_civil(y, m, d), t.div_euclid(86_400));
            }
        }
    }

    proptest::proptest! {
        /// The fixed-place parse is the field-by-field one, on stamps with bytes replaced,
        /// cut or doubled near every field.
        #[test]
        fn rfc3339_parse_is_the_reference(
            stamp in proptest::sample::select(vec![
                "2021-01-24T14:43:33.171226+00:00 x",
                "2026-11-28T19:27:32+0000",
                "2024-02-29T23:59:60Z",
                "2023-02-29T00:00:00z",
                "1999-12-31T00:00:00,5-05:30",
                "2026-11-01T00:00:00.+01:0",
            ]),
            edits in proptest::collection::vec(
                (0usize..40, proptest::sample::select(b"0123456789-T:.,+Zz /\xff".to_vec()), 0u8..4),
                0..3,
            ),
        ) {
            let mut b = stamp.as_bytes().to_vec();
            for (at, c, op) in edits {
                let at = at % (b.len() + 1);
                match op {
                    0 | 1 => if let Some(x) = b.get_mut(at) { *x = c },
                    2 => b.insert(at, c),
                    _ => b.truncate(at),
                }
            }
            proptest::prop_assert_eq!(parse_rfc3339(&b), parse_rfc3339_reference(&b));
        }
    }

    #[test]
    fn rfc3339_shapes() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn civil_days_match_chrono() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (2018, 9, 1),
            (2026, 12, 31),
            (1999, 3, 2),
        ] {
            let c = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let expect = c
                .signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
                .num_days();
            assert_eq!(days_from_civil(y, m, d), expect);
            assert_eq!(reference_of(expect * 86_400 + 5), (y, m, d));
        }
    }

    #[test]
    fn prefixes_of_the_corpus() {
        let (s, n) = parse_rfc3339(b"2021-01-24T14:43:33.171226+00:00 INFO").unwrap();
        assert_eq!(n, 32);
        assert_eq!(s.to_unix(0), 1_611_499_413);
        let (s, _) = parse_rfc3339(b"2024-12-30T12:16:32.052659+01:00 x").unwrap();
        assert_eq!(rfc3339(s.to_unix(0)), "2024-12-30T11:16:32Z");
        let (s, n) = parse_rfc3339(b"2026-11-28T19:27:32+0000 host").unwrap();
        assert_eq!(
            (n, rfc3339(s.to_unix(0)).as_str()),
            (24, "2026-11-28T19:27:32Z")
        );
        let (s, n) = parse_bsd(b"Feb  2 12:15:21 postfix").unwrap();
        assert_eq!((s.month, s.day, n), (2, 2, 15));
        let (s, _) = parse_bsd(b"Apr 09 09:29:47 host").unwrap();
        assert_eq!((s.month, s.day), (4, 9));
        assert!(parse_bsd(b"Foo  2 12:15:21").is_none());
        assert!(parse_bsd(b"Feb 32 12:15:21").is_none());
        let (s, n) = parse_exim(b"2021-05-04 13:37:00 +0100 1gtTXl").unwrap();
        assert_eq!(
            (n, rfc3339(s.to_unix(0)).as_str()),
            (25, "2021-05-04T12:37:00Z")
        );
        let (_, n) = parse_exim(b"2017-07-30 18:51:05.712 10HmaX").unwrap();
        assert_eq!(n, 23);
        assert!(parse_rfc3339(b"2021-02-30T00:00:00Z").is_none());
    }

    #[test]
    fn december_lines_in_a_january_file_belong_to_the_year_before() {
        assert_eq!(infer_year(12, 30, (2027, 1, 2)), 2026);
        assert_eq!(infer_year(1, 2, (2027, 1, 2)), 2027);
        assert_eq!(infer_year(9, 30, (2018, 12, 31)), 2018);
        // impossible dates are no stamps (February 29 is possible in some year)
        assert!(parse_bsd(b"Feb 30 10:00:00 host").is_none());
        assert!(parse_bsd(b"Apr 31 10:00:00 host").is_none());
        assert!(parse_bsd(b"Feb 29 10:00:00 host").is_some());
        assert!(parse_bsd(b"Dec 31 10:00:00 host").is_some());
        // later in the reference's own month than its day (and its day of slack)
        assert_eq!(infer_year(12, 29, (2026, 12, 6)), 2025);
        assert_eq!(infer_year(12, 7, (2026, 12, 6)), 2026);
        assert_eq!(infer_year(12, 31, (2026, 12, 31)), 2026);
    }

    #[test]
    fn user_times() {
        assert_eq!(
            parse_user_time("2018-10-02"),
            Some(days_from_civil(2018, 10, 2) * 86_400)
        );
        assert!(parse_user_time("2018-13-02").is_none());
        assert!(parse_user_time("yesterday").is_none());
        assert_eq!(parse_user_time("1970-01-01T00:00:10Z"), Some(10));
    }
}
