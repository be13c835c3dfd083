//! Row times as loggers write them (issue 15): absolute times (Unix seconds, ISO 8601) become
//! offsets from the first row, a row whose time jumps away and back is the one left out, a gap
//! the twin would step through for long is refused naming the row, and European spreadsheets'
//! `;` separators with decimal commas are read.

use machine_twin::data::{DataTable, Policy};

fn lenient(csv: &str) -> DataTable {
    DataTable::parse(csv, "log.csv", false, Policy::Lenient).unwrap()
}

/// The refusal of `csv` read leniently, then checked for gaps over one day.
fn refusal(csv: &str) -> String {
    DataTable::parse(csv, "log.csv", false, Policy::Lenient)
        .and_then(|t| t.check_max_gap(86_400.0))
        .unwrap_err()
        .to_string()
}

#[test]
fn unix_seconds_count_from_the_first_row_and_the_origin_is_recorded() {
    let t = lenient("time,a\n1796281018.25,1\n1796281018.75,2\n1796281020.25,3\n");
    assert_eq!(t.times, vec![0.0, 0.5, 2.0]);
    assert_eq!(t.time_origin, Some(1_796_281_018.25));
    assert_eq!(
        t.quality.time_origin.as_deref(),
        Some("2026-12-03T06:56:58.250Z")
    );
    // Seconds from the start of a run are taken as they are.
    let t = lenient("time,a\n10,1\n11,2\n");
    assert_eq!(t.times, vec![10.0, 11.0]);
    assert_eq!(t.time_origin, None);
}

#[test]
fn iso_8601_timestamps_in_csv_and_ndjson() {
    let t = lenient("time,a\n2026-12-03T06:56:58Z,1\n2026-12-03 06:57:00.5Z,2\n");
    assert_eq!(t.times, vec![0.0, 2.5]);
    assert_eq!(
        t.quality.time_origin.as_deref(),
        Some("2026-12-03T06:56:58Z")
    );
    let text = "{\"time\":\"2026-12-03T07:56:58+01:00\",\"a\":1}\n\
                {\"time\":\"2026-12-03T06:56:59\",\"a\":2}\n";
    let t = DataTable::parse(text, "log.ndjson", true, Policy::Lenient).unwrap();
    assert_eq!(t.times, vec![0.0, 1.0]);
    // A column does not switch between timestamps and seconds.
    let e = refusal("time,a\n2026-12-03T06:56:58Z,1\n5,2\n");
    assert_eq!(
        e,
        "log.csv:3: time: expected an ISO 8601 timestamp as on line 2, got a number"
    );
}

/// The fuzzing campaign: one time cell of 1e308 dropped the following 80 rows as out of order
/// and hung calibrate; a single early time dropped 39 rows.
#[test]
fn a_row_whose_time_jumps_away_and_back_is_the_one_left_out() {
    let spike = lenient("time,a\n0,1\n1,2\n1e308,3\n2,4\n3,5\n4,6\n");
    assert_eq!(spike.times, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    assert_eq!(spike.quality.out_of_order, 1);
    assert_eq!(spike.lines, vec![2, 3, 5, 6, 7]);
    let early = lenient("time,a\n10,1\n11,2\n12,3\n0,4\n13,5\n14,6\n");
    assert_eq!(early.times, vec![10.0, 11.0, 12.0, 13.0, 14.0]);
    assert_eq!(early.quality.out_of_order, 1);
    assert_eq!(early.quality.rows_used, 5);
}

#[test]
fn a_gap_longer_than_allowed_is_refused_naming_the_row() {
    let jump = "time,a\n0,1\n1,2\n1e12,3\n1e12,4\n";
    let e = refusal(jump);
    assert!(
        e.starts_with("log.csv:4: time: time jumps 999999999999 s after the previous row (line 3)"),
        "{e}"
    );
    assert!(e.contains("--max-gap"), "{e}");
    lenient(jump).check_max_gap(1e13).unwrap();
    // Relative times starting far from 0: the twin would step from 0 s to there.
    let e = refusal("time,a\n1e6,1\n1000001,2\n");
    assert!(
        e.starts_with("log.csv:2: time: the first row is at 1000000 s and the twin starts at 0 s"),
        "{e}"
    );
    assert!(e.contains("Unix seconds"), "{e}");
}

#[test]
fn semicolons_and_decimal_commas_are_read() {
    let t = lenient("time;load;temp\n0;1,5;20\n0,5;2;20,25\n");
    assert_eq!(t.times, vec![0.0, 0.5]);
    assert_eq!(
        t.rows,
        vec![vec![Some(1.5), Some(20.0)], vec![Some(2.0), Some(20.25)]]
    );
    // A thousands separator is not guessed at: counted as not a number.
    let t = lenient("time;load\n0;1.234,5\n");
    assert_eq!(t.quality.unparsable["load"], 1);
    let t = lenient("time\tload\n0\t1.5\n");
    assert_eq!(t.rows, vec![vec![Some(1.5)]]);
}
