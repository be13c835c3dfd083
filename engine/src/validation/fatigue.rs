//! Fatigue validation cases: rainflow counting against the ASTM E1049 example and against an
//! independent implementation, and Miner damage against closed forms.

use super::{CaseContext, Metric, Outcome};
use crate::error::{Error, Result};
use crate::fatigue::rainflow::{Cycle, count};
use crate::fatigue::{DamageCounter, SnCurve};

/// ASTM E1049-85 (2011) §5.4.4, Fig. 6: the load history −2, 1, −3, 5, −1, 3, −4, 4, −2 gives
/// ranges 3: 0.5, 4: 1.5, 6: 0.5, 8: 1.0, 9: 0.5 cycles.
pub fn rainflow_astm_case(ctx: &CaseContext) -> Result<Outcome> {
    let cycles = count(&[-2.0, 1.0, -3.0, 5.0, -1.0, 3.0, -4.0, 4.0, -2.0]);
    let tol = ctx.spec.tolerance;
    let at = |r: f64| -> f64 {
        cycles
            .iter()
            .filter(|c| c.range == r)
            .map(|c| c.count)
            .sum()
    };
    let mut metrics: Vec<Metric> = [(3.0, 0.5), (4.0, 1.5), (6.0, 0.5), (8.0, 1.0), (9.0, 0.5)]
        .iter()
        .map(|&(r, n)| Metric::absolute(format!("cycles of range {r}"), at(r), n, tol))
        .collect();
    let total: f64 = cycles.iter().map(|c| c.count).sum();
    metrics.push(Metric::absolute("total cycles", total, 4.0, tol));
    Ok(Outcome::Metrics(metrics))
}

fn read_csv(ctx: &CaseContext, name: &str) -> Result<Vec<csv::StringRecord>> {
    let path = ctx.dir.join(name);
    let label = path.display().to_string();
    let mut reader = csv::Reader::from_path(&path)
        .map_err(|e| Error::invalid(&label, None, None, e.to_string()))?;
    reader
        .records()
        .map(|r| r.map_err(|e| Error::invalid(&label, None, None, e.to_string())))
        .collect()
}

fn field(rec: &csv::StringRecord, i: usize, file: &str, line: usize) -> Result<f64> {
    rec.get(i)
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| {
            Error::invalid(
                file,
                Some(line),
                None,
                format!("column {i}: expected a number"),
            )
        })
}

/// Every cycle (range, mean, count) of the histories in `histories.csv` against `cycles.csv`,
/// written by a three-point reference implementation (`generate.py`). The four-point counter
/// closes the starting point's half cycles at the end rather than when they appear, and where
/// ranges tie it may count one full cycle where the three-point rule counts two halves of the
/// same range and mean, so both lists are compared as histograms over (range, mean).
pub fn rainflow_oracle_case(ctx: &CaseContext) -> Result<Outcome> {
    let mut histories: Vec<Vec<f64>> = Vec::new();
    for (i, rec) in read_csv(ctx, "histories.csv")?.iter().enumerate() {
        let h = field(rec, 0, "histories.csv", i + 2)? as usize;
        if histories.len() <= h {
            histories.resize(h + 1, Vec::new());
        }
        histories[h].push(field(rec, 1, "histories.csv", i + 2)?);
    }
    let mut expected: Vec<Vec<Cycle>> = vec![Vec::new(); histories.len()];
    for (i, rec) in read_csv(ctx, "cycles.csv")?.iter().enumerate() {
        let h = field(rec, 0, "cycles.csv", i + 2)? as usize;
        let cycle = Cycle {
            range: field(rec, 1, "cycles.csv", i + 2)?,
            mean: field(rec, 2, "cycles.csv", i + 2)?,
            count: field(rec, 3, "cycles.csv", i + 2)?,
        };
        expected
            .get_mut(h)
            .ok_or_else(|| Error::invalid("cycles.csv", Some(i + 2), None, "no such history"))?
            .push(cycle);
    }
    let mut metrics = Vec::new();
    for (h, xs) in histories.iter().enumerate() {
        let got = sorted(count(xs));
        let want = &sorted(expected[h].clone());
        let differing =
            got.len().abs_diff(want.len()) + got.iter().zip(want).filter(|(a, b)| a != b).count();
        metrics.push(Metric::absolute(
            format!(
                "history {h}: (range, mean) bins differing from the reference ({} expected)",
                want.len()
            ),
            differing as f64,
            0.0,
            ctx.spec.tolerance,
        ));
    }
    Ok(Outcome::Metrics(metrics))
}

/// Cycles merged by (range, mean), counts summed (two half cycles of one range and mean are one
/// full cycle), ordered by range, then mean.
fn sorted(mut cycles: Vec<Cycle>) -> Vec<Cycle> {
    cycles.sort_by(|a, b| (a.range.total_cmp(&b.range)).then(a.mean.total_cmp(&b.mean)));
    let mut merged: Vec<Cycle> = Vec::with_capacity(cycles.len());
    for c in cycles {
        match merged.last_mut() {
            Some(m) if m.range == c.range && m.mean == c.mean => m.count += c.count,
            _ => merged.push(c),
        }
    }
    merged
}

/// Palmgren–Miner for block loading on a Basquin curve: `n1` reversed cycles at `s1` then `n2`
/// at `s2` (with mean `mean`, Goodman-corrected), counted through the streaming rainflow
/// counter, against D = Σ n_i/N_i with N_i = ½·(σ_ar,i/σ_f′)^(1/b) by hand.
pub fn miner_blocks_case(ctx: &CaseContext) -> Result<Outcome> {
    let sn = SnCurve {
        ultimate_strength: ctx.setting("ultimate_strength", 690e6)?,
        strength_coefficient: ctx.setting("strength_coefficient", 1035e6)?,
        exponent: ctx.setting("exponent", -0.1)?,
        endurance_limit: 0.0,
    };
    let (s1, n1) = (
        ctx.setting("amplitude_1", 400e6)?,
        ctx.setting("cycles_1", 1000.0)?,
    );
    let (s2, n2) = (
        ctx.setting("amplitude_2", 300e6)?,
        ctx.setting("cycles_2", 5000.0)?,
    );
    let mean = ctx.setting("mean", 100e6)?;
    let mut counter = DamageCounter::default();
    for (s, n) in [(s1, n1), (s2, n2)] {
        for _ in 0..n as u64 {
            counter.push(mean + s, &sn);
            counter.push(mean - s, &sn);
        }
    }
    let by_hand = |s: f64, n: f64| {
        let reversed = s / (1.0 - mean / sn.ultimate_strength);
        n / (0.5 * (reversed / sn.strength_coefficient).powf(1.0 / sn.exponent))
    };
    // Counted by hand with the ASTM rules: the 2·n1 samples of block 1 span 2·n1 − 1 equal
    // ranges; each contains the starting point, so each is a half cycle (the last one stays in
    // the residue). The 2·n2 samples of block 2 close n2 − 1 full cycles of range 2·s2 and leave
    // a half cycle of 2·s2 and one of the transition range s1 + s2 (from mean − s1 to
    // mean + s2) in the residue.
    let transition = {
        let (amplitude, m) = (0.5 * (s1 + s2), mean + 0.5 * (s2 - s1));
        0.5 / (0.5 * (sn.goodman(amplitude, m) / sn.strength_coefficient).powf(1.0 / sn.exponent))
    };
    let expected = by_hand(s1, n1 - 0.5) + by_hand(s2, n2 - 0.5) + transition;
    Ok(Outcome::Metrics(vec![Metric::relative(
        "Miner damage of two blocks",
        counter.damage(&sn),
        expected,
        ctx.spec.tolerance,
    )]))
}
