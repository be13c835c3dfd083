//! The report writer's last check: no number a user reads from a report is `inf` or NaN.
//! JSON has no spelling for either (serde_json writes `null`, which reads back as "absent"), so
//! a non-finite value would reach a user as a silent gap. Values are walked as CBOR values,
//! which keep non-finite floats, so the check sees exactly what the writer would print.

use ciborium::Value;

/// The path (`parameters[2].std`) and value of the first non-finite number in `value`, if
/// any; an `Err` where `value` cannot be serialised at all.
pub fn first_non_finite(value: &impl serde::Serialize) -> Result<Option<(String, f64)>, String> {
    let value = Value::serialized(value).map_err(|e| e.to_string())?;
    Ok(find(&value, String::new()))
}

fn find(value: &Value, path: String) -> Option<(String, f64)> {
    match value {
        Value::Float(x) if !x.is_finite() => Some((path, *x)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find(v, format!("{path}[{i}]"))),
        Value::Map(entries) => entries.iter().find_map(|(k, v)| {
            let key = match k {
                Value::Text(t) => t.clone(),
                other => format!("{other:?}"),
            };
            let path = if path.is_empty() {
                key
            } else {
                format!("{path}.{key}")
            };
            find(v, path)
        }),
        Value::Tag(_, inner) => find(inner, path),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::first_non_finite;

    #[derive(serde::Serialize)]
    struct Estimate {
        name: &'static str,
        std: Option<f64>,
        samples: Vec<f64>,
    }

    #[test]
    fn names_the_first_non_finite_number() {
        let ok = Estimate {
            name: "a",
            std: None,
            samples: vec![1.0, 2.0],
        };
        assert_eq!(first_non_finite(&ok).unwrap(), None);
        let bad = vec![
            ok,
            Estimate {
                name: "b",
                std: Some(1.0),
                samples: vec![0.5, f64::INFINITY],
            },
        ];
        let (path, value) = first_non_finite(&bad).unwrap().unwrap();
        assert_eq!(path, "[1].samples[1]");
        assert!(value.is_infinite());
        let nan = Estimate {
            name: "c",
            std: Some(f64::NAN),
            samples: vec![],
        };
        assert_eq!(first_non_finite(&nan).unwrap().unwrap().0, "std");
    }
}
