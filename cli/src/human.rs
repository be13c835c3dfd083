//! Numbers as a person reads them on a terminal: significant digits, engineering prefixes on
//! units that take them (`315 µm`, `4.2 kN`), long times in minutes and hours, an estimate and
//! its standard deviation to the same decimal place (`7.89 ± 0.64`). Files keep full precision;
//! this is for what is printed only.

/// Units whose values read best with an SI prefix (µm rather than 3.15e-4 m).
const PREFIXED: [&str; 6] = ["m", "N", "N·m", "Pa", "W", "J"];

/// SI prefixes from giga to nano with their factors.
const PREFIXES: [(&str, f64); 7] = [
    ("G", 1e9),
    ("M", 1e6),
    ("k", 1e3),
    ("", 1.0),
    ("m", 1e-3),
    ("µ", 1e-6),
    ("n", 1e-9),
];

/// The SI prefix and factor for values of about `x` in `unit`: one that puts `x` between 1
/// and 1000 where the unit takes prefixes, else none.
pub fn prefix(unit: &str, x: f64) -> (&'static str, f64) {
    if PREFIXED.contains(&unit) {
        prefix_for(x)
    } else {
        ("", 1.0)
    }
}

/// The prefix and factor that put `x` (in a prefixable unit) between 1 and 1000.
fn prefix_for(x: f64) -> (&'static str, f64) {
    let a = x.abs();
    if a == 0.0 || !a.is_finite() {
        return ("", 1.0);
    }
    PREFIXES
        .iter()
        .copied()
        .find(|(_, f)| a >= *f * 0.9995)
        .unwrap_or(PREFIXES[PREFIXES.len() - 1])
}

/// Decimals that show `x` with `sig` significant digits (none below the units digit).
fn decimals(x: f64, sig: i32) -> usize {
    if x == 0.0 || !x.is_finite() {
        return 0;
    }
    (sig - 1 - x.abs().log10().floor() as i32).max(0) as usize
}

/// Whether `x` is printed without an exponent.
fn plain(x: f64) -> bool {
    x == 0.0 || (1e-3..1e6).contains(&x.abs())
}

/// `x` to `sig` significant digits: `0.0123`, `1234`, `1.23e-7`.
pub fn number(x: f64, sig: i32) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if plain(x) {
        let d = decimals(x, sig);
        return format!("{x:.d$}");
    }
    format!("{x:.*e}", (sig - 1).max(0) as usize)
}

/// `x` in `unit` to four significant digits, with a prefix where the unit takes one:
/// `315.2 µm`, `4.200 kN`, `0.35 Ω`, `2.41e-7 1` is shown as `2.410e-7`.
pub fn quantity(x: f64, unit: &str) -> String {
    if unit == "s" {
        return duration(x);
    }
    let (prefix, factor) = prefix(unit, x);
    with_unit(number(x / factor, 4), prefix, unit)
}

/// How the numbers of one estimate are shown: a prefix (or a shared power of ten) and the
/// decimals that put the last digit where the standard deviation's second significant one is.
struct Style<'a> {
    prefix: &'static str,
    unit: &'a str,
    factor: f64,
    exponent: Option<i32>,
    decimals: usize,
}

impl<'a> Style<'a> {
    fn new(mean: f64, std: f64, unit: &'a str) -> Self {
        let (prefix, factor) = prefix(unit, mean);
        let (m, s) = ((mean / factor).abs(), std / factor);
        let size = m.max(s);
        let exponent = (!plain(size) && size.is_finite()).then(|| size.log10().floor() as i32);
        let scale = exponent.map_or(1.0, |e| 10f64.powi(e));
        // Two significant digits of the std; no more than six beyond the mean's own (a std
        // far below the mean says "exact" to a reader either way).
        let decimals = if s > 0.0 && s.is_finite() {
            decimals(s / scale, 2).min(decimals(m / scale, 6).max(1))
        } else {
            decimals(m / scale, 4)
        };
        Self {
            prefix,
            unit,
            factor: factor * scale,
            exponent,
            decimals,
        }
    }

    /// `x` in this style, without the unit.
    fn show(&self, x: f64) -> String {
        let d = self.decimals;
        format!("{:.d$}", x / self.factor)
    }

    /// A standard deviation in this style; one too small to show at these decimals is
    /// written with an exponent (`2.5e-7`), not as a zero.
    fn show_std(&self, std: f64) -> String {
        let d = self.decimals;
        let x = std / self.factor;
        if x > 0.0 && x < 0.5 * 10f64.powi(-(d as i32)) {
            format!("{x:.1e}")
        } else {
            format!("{x:.d$}")
        }
    }

    /// `body` with the shared power of ten and the unit.
    fn finish(&self, body: String) -> String {
        let body = match self.exponent {
            Some(e) => format!("({body})e{e}"),
            None => body,
        };
        with_unit(body, self.prefix, self.unit)
    }
}

/// `mean ± std` in `unit`, the mean rounded where the std's second significant digit is:
/// `7.89 ± 0.64`, `315 ± 17 µm`, `(1.200 ± 0.053)e-4 N·m·s/rad`.
pub fn estimate(mean: f64, std: f64, unit: &str) -> String {
    if !(mean.is_finite() && std.is_finite()) {
        return with_unit(format!("{mean} ± {std}"), "", unit);
    }
    let style = Style::new(mean, std, unit);
    style.finish(format!("{} ± {}", style.show(mean), style.show_std(std)))
}

/// `mean ± std (90 % interval lo … hi)` in `unit`, every number to the same decimal place.
pub fn estimate_with_interval(mean: f64, std: f64, (lo, hi): (f64, f64), unit: &str) -> String {
    if ![mean, std, lo, hi].iter().all(|x| x.is_finite()) {
        return with_unit(
            format!("{mean} ± {std} (90 % interval {lo} … {hi})"),
            "",
            unit,
        );
    }
    let style = Style::new(mean, std, unit);
    format!(
        "{} (90 % interval {})",
        style.finish(format!("{} ± {}", style.show(mean), style.show_std(std))),
        style.finish(format!("{} … {}", style.show(lo), style.show(hi)))
    )
}

/// A time span: `68.3 ms`, `42 s`, `12.5 min`, `3.42 h` (hours for long times, no exponent).
pub fn duration(seconds: f64) -> String {
    let a = seconds.abs();
    if !a.is_finite() {
        format!("{seconds} s")
    } else if a > 0.0 && a < 1.0 {
        format!("{} ms", number(seconds * 1e3, 3))
    } else if a < 10.0 {
        format!("{} s", number(seconds, 3))
    } else if a < 120.0 {
        format!("{seconds:.0} s")
    } else if a < 7200.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{} h", number(seconds / 3600.0, 3))
    }
}

fn with_unit(value: String, prefix: &str, unit: &str) -> String {
    match unit {
        "" | "1" => value,
        _ => format!("{value} {prefix}{unit}"),
    }
}

/// A byte count as a person reads it: `931 B`, `14.6 kB`, `2.15 GB` (powers of 1000).
pub fn bytes(bytes: usize) -> String {
    let x = bytes as f64;
    match x {
        x if x >= 1e9 => format!("{} GB", number(x / 1e9, 3)),
        x if x >= 1e6 => format!("{} MB", number(x / 1e6, 3)),
        x if x >= 1e3 => format!("{} kB", number(x / 1e3, 3)),
        _ => format!("{bytes} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: `7.886104e0 ± 6.40e-1 (... prior 8.0000e0 ± 2.00e0)` and `0.0` axis labels.
    #[test]
    fn numbers_read_as_a_person_writes_them() {
        assert_eq!(estimate(7.886104, 0.640, ""), "7.89 ± 0.64");
        assert_eq!(estimate(8.0, 2.0, ""), "8.0 ± 2.0");
        assert_eq!(estimate(-16.30262, 0.0349, "1"), "-16.303 ± 0.035");
        assert_eq!(
            estimate(1.2e-4, 5.3e-6, "N·m·s/rad"),
            "(1.200 ± 0.053)e-4 N·m·s/rad"
        );
        assert_eq!(estimate(3.1523e-4, 1.7e-5, "m"), "315 ± 17 µm");
        assert_eq!(
            estimate(0.8000352, 5.03e-5, "N·m/A"),
            "0.800035 ± 0.000050 N·m/A"
        );
        assert_eq!(quantity(3.1523e-4, "m"), "315.2 µm");
        assert_eq!(quantity(2.0431e-7, "m"), "204.3 nm");
        assert_eq!(quantity(4200.0, "N"), "4.200 kN");
        assert_eq!(quantity(0.35, "Ω"), "0.3500 Ω");
        assert_eq!(quantity(2.4539e-29, "1"), "2.454e-29");
        assert_eq!(quantity(31.25, "°C"), "31.25 °C");
        assert_eq!(quantity(0.0, "m"), "0 m");
        assert_eq!(duration(4500.0), "75.0 min");
        assert_eq!(duration(45800.0), "12.7 h");
        assert_eq!(duration(13.0), "13 s");
        assert_eq!(duration(0.25), "250 ms");
        assert_eq!(duration(0.0), "0 s");
        assert_eq!(
            estimate_with_interval(7.3e-4, 3.1e-4, (2.19e-4, 1.231e-3), ""),
            "(7.3 ± 3.1)e-4 (90 % interval (2.2 … 12.3)e-4)"
        );
        assert_eq!(
            estimate_with_interval(0.38009649, 2.5e-7, (0.3800961, 0.3800969), ""),
            "0.380096 ± 2.5e-7 (90 % interval 0.380096 … 0.380097)"
        );
        assert_eq!(
            estimate_with_interval(-16.30262, 0.0349, (-16.3599, -16.2451), ""),
            "-16.303 ± 0.035 (90 % interval -16.360 … -16.245)"
        );
        assert_eq!(bytes(14_600), "14.6 kB");
    }
}
