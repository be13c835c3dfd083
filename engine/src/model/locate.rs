//! Finding the line of a field in a TOML source, so that errors found after parsing
//! (a negative mass, a joint naming a missing body) can still name the line.

use toml_edit::{Item, Table, Value};

/// 1-based line of the field at `path` (keys; array indices as decimal strings) in `src`.
/// Falls back to the deepest parent found; `None` if the source does not parse.
pub fn line_of(src: &str, path: &[&str]) -> Option<usize> {
    let doc = toml_edit::Document::parse(src).ok()?;
    let mut best = None;
    in_table(doc.as_table(), path, &mut best);
    best.map(|offset: usize| src[..offset.min(src.len())].matches('\n').count() + 1)
}

fn in_table(table: &Table, path: &[&str], best: &mut Option<usize>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Some((key, item)) = table.get_key_value(first) {
        if let Some(span) = key.span() {
            *best = Some(span.start);
        }
        in_item(item, rest, best);
    }
}

fn in_item(item: &Item, path: &[&str], best: &mut Option<usize>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match item {
        Item::Table(t) => in_table(t, path, best),
        Item::Value(v) => in_value(v, path, best),
        Item::ArrayOfTables(a) => {
            if let Some(t) = first.parse::<usize>().ok().and_then(|i| a.get(i)) {
                if let Some(span) = t.span() {
                    *best = Some(span.start);
                }
                in_table(t, rest, best);
            }
        }
        Item::None => {}
    }
}

fn in_value(value: &Value, path: &[&str], best: &mut Option<usize>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match value {
        Value::InlineTable(t) => {
            if let Some((key, v)) = t.get_key_value(first) {
                if let Some(span) = key.span() {
                    *best = Some(span.start);
                }
                in_item(v, rest, best);
            }
        }
        Value::Array(a) => {
            if let Some(v) = first.parse::<usize>().ok().and_then(|i| a.get(i)) {
                if let Some(span) = v.span() {
                    *best = Some(span.start);
                }
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
}
