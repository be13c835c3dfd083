//! Finding the line of a field in a TOML source, so that errors found after parsing
//! (a negative mass, a joint naming a missing body) can still name the line. The source is
//! read by the same parser that deserialises models, so every model that parses can be
//! located (a second parser refused, for example, integers beyond 2^63 that the first took as
//! floats).

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// 1-based line of the field at `path` (keys; array indices as decimal strings) in `src`.
/// Falls back to the deepest parent found; `None` if the source does not parse.
pub fn line_of(src: &str, path: &[&str]) -> Option<usize> {
    let doc = DeTable::parse(src).ok()?;
    let mut best = None;
    in_table(doc.get_ref(), path, &mut best);
    best.map(|offset: usize| src[..offset.min(src.len())].matches('\n').count() + 1)
}

fn in_table(table: &DeTable, path: &[&str], best: &mut Option<usize>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Some((key, value)) = table.iter().find(|(k, _)| k.get_ref() == first) {
        *best = Some(key.span().start);
        in_value(value, rest, best);
    }
}

fn in_value(value: &Spanned<DeValue>, path: &[&str], best: &mut Option<usize>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match value.get_ref() {
        DeValue::Table(t) => in_table(t, path, best),
        DeValue::Array(a) => {
            if let Some(v) = first.parse::<usize>().ok().and_then(|i| a.get(i)) {
                *best = Some(v.span().start);
                in_value(v, rest, best);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::line_of;

    #[test]
    fn finds_nested_keys_and_array_entries() {
        let src = "[model]\nname = \"x\"\n\n[body.rotor]\nmass = -1.0\n\n[[parameter]]\npath = \"a\"\nstd = 1\n\n[[parameter]]\npath = \"b\"\nstd = 2\n";
        assert_eq!(line_of(src, &["body", "rotor", "mass"]), Some(5));
        assert_eq!(line_of(src, &["parameter", "1", "std"]), Some(13));
        // A missing leaf falls back to its parent.
        assert_eq!(line_of(src, &["body", "rotor", "inertia"]), Some(4));
    }

    #[test]
    fn locates_values_only_the_model_parser_takes() {
        // An integer beyond 2^63, which the model parser reads as a float.
        let src = "[model]\nname = \"x\"\n\n[joint.j]\nanchor = [0.0, 9223372036854775808, 0.0]\n";
        assert_eq!(line_of(src, &["joint", "j", "anchor"]), Some(5));
    }
}
