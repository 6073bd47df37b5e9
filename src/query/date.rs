//! Dates: recognising Parse Date objects, parsing ISO-8601 / RFC 3339
//! timestamps into milliseconds since the Unix epoch, and formatting such
//! a count back into the canonical `YYYY-MM-DDTHH:MM:SS.sssZ` form.
//!
//! Accepted input: `YYYY-MM-DD`, optionally followed by `T` (or `t` or a
//! space) and `HH:MM`, optional `:SS`, optional fraction (`.` or `,`,
//! any number of digits, truncated to milliseconds), and an optional
//! offset `Z`, `±HH`, `±HHMM` or `±HH:MM`. A missing offset means UTC.
//! Only instants between the years 0000 and 9999 (in UTC) are accepted,
//! which keeps the canonical form fixed-width and therefore sortable as
//! plain bytes.

use serde_json::Value;

const MS_PER_DAY: i64 = 86_400_000;

/// Whether `v` is a Parse Date object (`{"__type":"Date", …}`).
pub(super) fn is_date_object(v: &Value) -> bool {
    v.get("__type").and_then(Value::as_str) == Some("Date")
}

/// The instant held by a Date object or an ISO string, if it parses.
pub(super) fn date_millis(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => parse_iso_millis(s),
        Value::Object(_) if is_date_object(v) => v.get("iso").and_then(Value::as_str).and_then(parse_iso_millis),
        _ => None,
    }
}

/// Parses an ISO-8601 timestamp into milliseconds since the epoch.
pub(crate) fn parse_iso_millis(s: &str) -> Option<i64> {
    let mut p = Cursor { bytes: s.as_bytes(), pos: 0 };
    let year = p.number(4)?;
    p.expect(b'-')?;
    let month = p.number(2)?;
    p.expect(b'-')?;
    let day = p.number(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }

    let mut ms_of_day = 0;
    let mut offset_minutes = 0;
    if !p.at_end() {
        if !matches!(p.next()?, b'T' | b't' | b' ') {
            return None;
        }
        let hour = p.number(2)?;
        p.expect(b':')?;
        let minute = p.number(2)?;
        let (mut second, mut millis) = (0, 0);
        if p.eat(b':') {
            second = p.number(2)?;
            if p.eat(b'.') || p.eat(b',') {
                millis = p.fraction_millis()?;
            }
        }
        // A second of 60 is a leap second; it simply rolls over.
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        ms_of_day = ((hour * 60 + minute) * 60 + second) * 1000 + millis;
        if !p.at_end() {
            offset_minutes = p.offset()?;
        }
        if !p.at_end() {
            return None;
        }
    }

    let ms = days_from_civil(year, month, day) * MS_PER_DAY + ms_of_day - offset_minutes * 60_000;
    (MIN_MS..=MAX_MS).contains(&ms).then_some(ms)
}

/// 0000-01-01T00:00:00.000Z
const MIN_MS: i64 = -62_167_219_200_000;
/// 9999-12-31T23:59:59.999Z
const MAX_MS: i64 = 253_402_300_799_999;

/// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.sssZ`.
pub(crate) fn format_iso_millis(ms: i64) -> String {
    let (year, month, day) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    let rem = ms.rem_euclid(MS_PER_DAY);
    let (h, m, s, frac) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{frac:03}Z")
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn next(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn eat(&mut self, want: u8) -> bool {
        let hit = self.bytes.get(self.pos) == Some(&want);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        self.eat(want).then_some(())
    }

    fn digit(&mut self) -> Option<i64> {
        let b = *self.bytes.get(self.pos)?;
        if !b.is_ascii_digit() {
            return None;
        }
        self.pos += 1;
        Some(i64::from(b - b'0'))
    }

    /// Exactly `width` decimal digits.
    fn number(&mut self, width: usize) -> Option<i64> {
        (0..width).try_fold(0, |acc, _| Some(acc * 10 + self.digit()?))
    }

    /// One or more fraction digits, truncated to milliseconds.
    fn fraction_millis(&mut self) -> Option<i64> {
        let (mut millis, mut count) = (0, 0);
        while let Some(d) = self.digit() {
            if count < 3 {
                millis = millis * 10 + d;
            }
            count += 1;
        }
        if count == 0 {
            return None;
        }
        for _ in count..3 {
            millis *= 10;
        }
        Some(millis)
    }

    /// `Z`, `±HH`, `±HHMM` or `±HH:MM`, as signed minutes east of UTC.
    fn offset(&mut self) -> Option<i64> {
        let sign = match self.next()? {
            b'Z' | b'z' => return Some(0),
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let hours = self.number(2)?;
        let minutes = if self.eat(b':') || !self.at_end() { self.number(2)? } else { 0 };
        if hours > 23 || minutes > 59 {
            return None;
        }
        Some(sign * (hours * 60 + minutes))
    }
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date. The year is
/// shifted to start in March so the leap day falls at its very end.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_iso_millis("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse_iso_millis("1970-01-01"), Some(0));
        assert_eq!(parse_iso_millis("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_iso_millis("1970-01-01T00:00:00.5Z"), Some(500));
        assert_eq!(parse_iso_millis("1970-01-01T00:00:00.123999Z"), Some(123));
        assert_eq!(parse_iso_millis("1970-01-01T08:00:00+08:00"), Some(0));
        assert_eq!(parse_iso_millis("1970-01-01T08:00+0800"), Some(0));
        assert_eq!(parse_iso_millis("1969-12-31T19:00:00-05"), Some(0));
        assert_eq!(parse_iso_millis("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        assert_eq!(parse_iso_millis("2026-11-25T10:00:00.000Z"), Some(1_795_600_800_000));
    }

    #[test]
    fn rejects_malformed_input() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-02-29",
            "2026-11-25T24:00:00Z",
            "2026-11-25T10:00:00.Z",
            "2026-11-25T10:00:00Zjunk",
            "2026-11-25T10:00:00+25:00",
            "26-11-25",
            "2026-11-25T10",
            "9999-12-31T23:00:00-05:00",
        ] {
            assert_eq!(parse_iso_millis(bad), None, "{bad:?}");
        }
        assert!(parse_iso_millis("2024-02-29").is_some());
    }

    #[test]
    fn formats_canonically_and_round_trips() {
        assert_eq!(format_iso_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_iso_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_iso_millis(MIN_MS), "0000-01-01T00:00:00.000Z");
        assert_eq!(format_iso_millis(MAX_MS), "9999-12-31T23:59:59.999Z");
        for iso in ["2026-11-25T10:00:00.000Z", "2024-02-29T23:59:59.999Z", "1900-03-01T00:00:00.000Z"] {
            assert_eq!(format_iso_millis(parse_iso_millis(iso).unwrap()), iso);
        }
    }
}
