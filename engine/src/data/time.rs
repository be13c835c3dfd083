//! Row times: seconds from the start of the run, Unix seconds, or ISO 8601 timestamps.
//!
//! Loggers and brokers stamp rows with absolute times. A table whose time column holds ISO 8601
//! timestamps (`2026-12-03T06:56:58.25Z`, `2026-12-03 06:56:58+01:00`; without an offset the
//! time is taken as UTC), or numbers from [`ABSOLUTE_FROM`] s on (Unix seconds, 2001 onwards),
//! is read as absolute: its times become offsets from the first row kept, whose absolute time is
//! recorded as the table's origin. Smaller numbers are seconds from the start of the run.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// Times from this many seconds on are Unix seconds (2001-09-09T01:46:40Z): no run of a
/// machine lasts 31 years, so no relative time comes near it.
pub const ABSOLUTE_FROM: f64 = 1e9;

/// The default longest interval in s between rows (and from the twin's start at 0 s to the
/// first row) that a twin is stepped through: one day. A longer one is refused, naming the
/// row, unless the caller allows it.
pub const DEFAULT_MAX_GAP: f64 = 86_400.0;

/// Unix seconds of an ISO 8601 timestamp, if `text` is one.
pub fn parse_timestamp(text: &str) -> Option<f64> {
    let text = text.trim();
    // `2026-12-03 06:56:58`: a space between date and time, as spreadsheets and SQL write it.
    let normalised;
    let text = if text.len() > 10 && text.as_bytes()[10] == b' ' {
        normalised = format!("{}T{}", &text[..10], &text[11..]);
        normalised.as_str()
    } else {
        text
    };
    let stamp = match DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()?
            .and_utc(),
    };
    Some(stamp.timestamp() as f64 + f64::from(stamp.timestamp_subsec_nanos()) * 1e-9)
}

/// Unix seconds `t` as an ISO 8601 UTC timestamp (`2026-12-03T06:56:58.25Z`).
pub fn format_timestamp(t: f64) -> String {
    let secs = t.floor();
    let nanos = ((t - secs) * 1e9).round().min(999_999_999.0) as u32;
    DateTime::<Utc>::from_timestamp(secs as i64, nanos).map_or_else(
        || format!("{t} s"),
        |d| d.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    )
}

/// Indices of a longest non-decreasing subsequence of `times`, in order: the rows that agree
/// on the order of time. The others are the outliers: a row whose time jumps far ahead and
/// comes back, or one early row, is left out by itself, not the rows that follow it.
/// O(n log n).
pub fn ordered_rows(times: &[f64]) -> Vec<usize> {
    // tails[k]: index of the row ending the best non-decreasing run of length k + 1 found so
    // far (the one with the smallest last time); before[i]: the row preceding row i in it.
    let mut tails: Vec<usize> = Vec::new();
    let mut before: Vec<Option<usize>> = vec![None; times.len()];
    for (i, &t) in times.iter().enumerate() {
        let k = tails.partition_point(|&j| times[j] <= t);
        before[i] = k.checked_sub(1).map(|k| tails[k]);
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut kept = Vec::with_capacity(tails.len());
    let mut at = tails.last().copied();
    while let Some(i) = at {
        kept.push(i);
        at = before[i];
    }
    kept.reverse();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_with_and_without_offset() {
        let z = parse_timestamp("2026-12-03T06:56:58.25Z").unwrap();
        assert_eq!(z, 1_796_281_018.25);
        assert_eq!(parse_timestamp("2026-12-03 07:56:58.25+01:00"), Some(z));
        assert_eq!(parse_timestamp("2026-12-03T06:56:58.25"), Some(z));
        assert_eq!(parse_timestamp("12.5"), None);
        assert_eq!(parse_timestamp("2026-13-03T06:56:58"), None);
        assert_eq!(format_timestamp(z), "2026-12-03T06:56:58.250Z");
    }

    #[test]
    fn a_spike_or_an_early_row_is_the_outlier_not_its_followers() {
        let spike = [0.0, 1.0, 1e308, 2.0, 3.0, 4.0];
        assert_eq!(ordered_rows(&spike), vec![0, 1, 3, 4, 5]);
        let early = [10.0, 11.0, 12.0, 0.0, 13.0, 14.0];
        assert_eq!(ordered_rows(&early), vec![0, 1, 2, 4, 5]);
        let ties = [0.0, 1.0, 1.0, 2.0];
        assert_eq!(ordered_rows(&ties), vec![0, 1, 2, 3]);
        assert!(ordered_rows(&[]).is_empty());
    }
}
