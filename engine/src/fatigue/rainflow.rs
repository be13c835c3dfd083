//! Streaming rainflow counting by the four-point method, with the residue counted as half
//! cycles. Of four consecutive reversals a, b, c, d, the inner range |c − b| closes a full cycle
//! when it is no larger than either outer range |b − a| and |d − c|; b and c are then removed and
//! the test repeats. What is never closed is the residue, whose consecutive ranges count as half
//! cycles when the history ends. McInnes & Meehan (Int. J. Fatigue 30 (2008) 547–559) prove this
//! gives exactly the cycles of the three-point rule of ASTM E1049-85 (reapproved 2011) §5.4.4,
//! whose starting-point half cycles are the residue's leading ranges; the validation cases
//! `rainflow_astm` and `rainflow_random` check it against the standard's example and an
//! independent three-point implementation.
//!
//! The residue's leading range is final once the next range is at least as large (the range
//! from its second point can only grow, so that point is never closed): it is then reported as
//! a half cycle at once and its first point dropped, as the standard's starting-point rule
//! does. This keeps the residue bounded for growing amplitudes, which would otherwise pile up.
//!
//! The counter takes samples one at a time and keeps only the reversals not yet closed, so
//! histories of any length are counted in bounded memory (the residue of a stationary history
//! stays small). Equal consecutive samples are one point; a monotone run is one range.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// A counted cycle: a range (peak to valley), its mean, and whether it is a full or half cycle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cycle {
    /// Range |peak − valley|, in the unit of the samples.
    pub range: f64,
    /// Mean (peak + valley)/2.
    pub mean: f64,
    /// 1.0 for a full cycle, 0.5 for a half cycle.
    pub count: f64,
}

impl Cycle {
    fn between(a: f64, b: f64, count: f64) -> Self {
        Self {
            range: (a - b).abs(),
            mean: 0.5 * (a + b),
            count,
        }
    }
}

/// The streaming counter. [`Rainflow::push`] reports every cycle as soon as it closes;
/// [`Rainflow::residue`] gives the half cycles still open (what the history would add if it
/// ended now) without consuming them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rainflow {
    /// Reversals not yet closed (the residue); the first is the start of what remains.
    points: VecDeque<f64>,
    /// The latest distinct sample: a reversal once the next distinct sample turns back.
    pending: Option<f64>,
    /// Sign of the slope into `pending` (0 before the second distinct sample).
    slope: f64,
}

impl Rainflow {
    /// An empty counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample; `on_cycle` receives each cycle it closes (full cycles, and the residue's
    /// leading half cycles once final).
    #[inline]
    pub fn push(&mut self, x: f64, on_cycle: &mut impl FnMut(Cycle)) {
        let Some(last) = self.pending else {
            self.pending = Some(x);
            self.reversal(x, on_cycle);
            return;
        };
        if x == last {
            return;
        }
        let d = x - last;
        if d * self.slope < 0.0 {
            self.reversal(last, on_cycle);
        }
        self.slope = d;
        self.pending = Some(x);
    }

    /// Adds every sample of `xs` (see [`Rainflow::push`]).
    pub fn extend(&mut self, xs: &[f64], on_cycle: &mut impl FnMut(Cycle)) {
        for &x in xs {
            self.push(x, on_cycle);
        }
    }

    /// The cycles that ending the history now would add: the latest sample becomes the last
    /// reversal (which may still close cycles), and the ranges left count as half cycles. The
    /// counter itself is unchanged.
    pub fn residue(&self) -> Vec<Cycle> {
        let mut out = Vec::new();
        self.clone().finish(&mut |c| out.push(c));
        out
    }

    /// Ends the history: the latest sample is the last reversal, then the ranges left are
    /// reported as half cycles, and the counter is emptied.
    pub fn finish(&mut self, on_cycle: &mut impl FnMut(Cycle)) {
        // `pending` equals the last reversal only after the very first sample.
        if let (Some(p), Some(&b)) = (self.pending, self.points.back())
            && p != b
        {
            self.reversal(p, on_cycle);
        }
        let pts = &self.points;
        for i in 1..pts.len() {
            on_cycle(Cycle::between(pts[i - 1], pts[i], 0.5));
        }
        *self = Self::default();
    }

    /// Reversals held (the residue's size).
    pub fn open_reversals(&self) -> usize {
        self.points.len()
    }

    /// Applies the four-point rule after a new reversal, then reports the residue's leading
    /// half cycles that are final.
    fn reversal(&mut self, x: f64, on_cycle: &mut impl FnMut(Cycle)) {
        let p = &mut self.points;
        p.push_back(x);
        while p.len() >= 4 {
            let n = p.len();
            let (a, b, c, d) = (p[n - 4], p[n - 3], p[n - 2], p[n - 1]);
            let inner = (c - b).abs();
            if inner > (b - a).abs() || inner > (d - c).abs() {
                break;
            }
            on_cycle(Cycle::between(b, c, 1.0));
            p.truncate(n - 3);
            p.push_back(d);
        }
        while p.len() >= 3 && (p[1] - p[0]).abs() <= (p[2] - p[1]).abs() {
            on_cycle(Cycle::between(p[0], p[1], 0.5));
            p.pop_front();
        }
    }
}

/// Counts a whole history: every cycle, full and half, in the order reported.
pub fn count(xs: &[f64]) -> Vec<Cycle> {
    let mut out = Vec::new();
    let mut rf = Rainflow::new();
    let mut add = |c| out.push(c);
    rf.extend(xs, &mut add);
    rf.finish(&mut add);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ASTM E1049-85 §5.4.4, Fig. 6: ranges 3: 0.5, 4: 1.5, 6: 0.5, 8: 1.0, 9: 0.5.
    #[test]
    fn astm_example() {
        let cycles = count(&[-2.0, 1.0, -3.0, 5.0, -1.0, 3.0, -4.0, 4.0, -2.0]);
        let total = |r: f64| -> f64 {
            cycles
                .iter()
                .filter(|c| c.range == r)
                .map(|c| c.count)
                .sum()
        };
        assert_eq!(
            [3.0, 4.0, 6.0, 8.0, 9.0].map(total),
            [0.5, 1.5, 0.5, 1.0, 0.5]
        );
        assert_eq!(cycles.iter().map(|c| c.count).sum::<f64>(), 4.0);
    }

    #[test]
    fn residue_is_what_finish_adds() {
        let xs = [0.0, 3.0, 1.0, 1.0, 4.0, 2.0, 2.5];
        let mut rf = Rainflow::new();
        let mut closed = Vec::new();
        rf.extend(&xs, &mut |c| closed.push(c));
        let residue = rf.residue();
        let mut rest = Vec::new();
        rf.finish(&mut |c| rest.push(c));
        assert_eq!(residue, rest);
        closed.extend(rest);
        assert_eq!(closed, count(&xs));
    }
}
