//! A machine's reorder window: rows wait, in time order, until newer data has passed them by
//! `machine.reorder_window` seconds, so that rows a publisher sends again out of order after a
//! reconnection (rumqttc, for one, resends its unacknowledged messages in packet-id order,
//! which wraps) still reach the twin in time order instead of being counted as out of order and
//! left out. A row that arrives later than the window is still counted as out of order.
//!
//! The payloads whose rows wait are not acknowledged: only once all their rows are assimilated
//! and journaled may the broker forget them, so a crash loses nothing that waited. At most
//! [`MAX_WAITING_PAYLOADS`] payloads wait; beyond that the oldest rows go on at once. A window
//! of 0 assimilates every row as it comes.

use std::collections::BTreeMap;

/// Most payloads whose rows may wait at once: well under the connection's receive maximum (32)
/// and the worker's queue (64), so a broker that keeps to either is never held back while rows
/// wait for newer ones.
pub const MAX_WAITING_PAYLOADS: usize = 16;

/// A row waiting for its turn.
pub struct Waiting {
    /// Data time, s.
    pub time: f64,
    /// Model inputs, in the model's order.
    pub inputs: Vec<Option<f64>>,
    /// Measurements, in the model's sensor order.
    pub measurements: Vec<Option<f64>>,
    /// The broker said it delivered this row's payload before.
    pub redelivered: bool,
    payload: u64,
}

/// Rows in time order and, per payload, how many of its rows still wait.
pub struct Reorder {
    window: f64,
    rows: Vec<Waiting>,
    newest: f64,
    waiting: BTreeMap<u64, usize>,
}

impl Reorder {
    /// A window of `window` seconds of data.
    pub fn new(window: f64) -> Self {
        Self {
            window,
            rows: Vec::new(),
            newest: f64::NEG_INFINITY,
            waiting: BTreeMap::new(),
        }
    }

    /// Starts payload `payload` (numbers increase with arrival).
    pub fn open(&mut self, payload: u64) {
        self.waiting.insert(payload, 0);
    }

    /// Lets a row of `payload` wait; `false` (and the row is dropped) when a waiting row has
    /// the same time: a repeat.
    pub fn hold(
        &mut self,
        payload: u64,
        time: f64,
        inputs: Vec<Option<f64>>,
        measurements: Vec<Option<f64>>,
        redelivered: bool,
    ) -> bool {
        let at = self.rows.partition_point(|r| r.time < time);
        if self.rows.get(at).is_some_and(|r| r.time == time) {
            return false;
        }
        self.rows.insert(
            at,
            Waiting {
                time,
                inputs,
                measurements,
                redelivered,
                payload,
            },
        );
        *self.waiting.entry(payload).or_insert(0) += 1;
        self.newest = self.newest.max(time);
        true
    }

    /// Takes out, in time order, the rows whose turn has come: those the newest row has passed
    /// by the window, the oldest while too many payloads wait, or (`all`) every one.
    pub fn due(&mut self, all: bool) -> Vec<Waiting> {
        let passed = if all {
            self.rows.len()
        } else {
            self.rows
                .partition_point(|r| r.time <= self.newest - self.window)
        };
        let mut left = self.waiting.values().filter(|&&c| c > 0).count();
        let mut n = 0;
        while n < self.rows.len() && (n < passed || left > MAX_WAITING_PAYLOADS) {
            let c = self
                .waiting
                .get_mut(&self.rows[n].payload)
                .expect("a waiting row's payload is open");
            *c -= 1;
            if *c == 0 {
                left -= 1;
            }
            n += 1;
        }
        self.rows.drain(..n).collect()
    }

    /// The payloads none of whose rows wait any longer, in arrival order; forgotten here.
    pub fn finished(&mut self) -> Vec<u64> {
        let done: Vec<u64> = self
            .waiting
            .iter()
            .filter(|&(_, &c)| c == 0)
            .map(|(&p, _)| p)
            .collect();
        for p in &done {
            self.waiting.remove(p);
        }
        done
    }

    /// Rows waiting.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row waits.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(rows: &[Waiting]) -> Vec<f64> {
        rows.iter().map(|r| r.time).collect()
    }

    #[test]
    fn rows_leave_in_time_order_once_passed_by_the_window() {
        let mut r = Reorder::new(0.25);
        r.open(1);
        for t in [0.0, 0.1] {
            assert!(r.hold(1, t, vec![], vec![], false));
        }
        r.open(2);
        for t in [0.3, 0.4] {
            assert!(r.hold(2, t, vec![], vec![], false));
        }
        assert_eq!(times(&r.due(false)), [0.0, 0.1]);
        assert_eq!(r.finished(), [1]);
        // A payload resent late, still inside the window, takes its place.
        r.open(3);
        assert!(r.hold(3, 0.2, vec![], vec![], true));
        assert!(!r.hold(3, 0.3, vec![], vec![], true), "a repeat");
        assert!(r.due(false).is_empty());
        assert!(r.finished().is_empty());
        r.open(4);
        assert!(r.hold(4, 0.6, vec![], vec![], false));
        assert_eq!(times(&r.due(false)), [0.2, 0.3]);
        assert_eq!(r.finished(), [3]);
        assert_eq!(times(&r.due(true)), [0.4, 0.6]);
        assert_eq!(r.finished(), [2, 4]);
        assert!(r.is_empty());
    }

    #[test]
    fn a_zero_window_passes_rows_on_at_once_and_waiting_payloads_are_bounded() {
        let mut r = Reorder::new(0.0);
        r.open(1);
        r.hold(1, 1.0, vec![], vec![], false);
        assert_eq!(times(&r.due(false)), [1.0]);
        let mut r = Reorder::new(1e9);
        for p in 0..(MAX_WAITING_PAYLOADS as u64 + 3) {
            r.open(p);
            r.hold(p, p as f64, vec![], vec![], false);
            r.due(false);
        }
        assert_eq!(r.len(), MAX_WAITING_PAYLOADS);
        assert_eq!(r.finished(), [0, 1, 2]);
    }
}
