//! A mutation fuzzer for everything the engine reads from users (issue 15): model files (parse,
//! compile and a few steps of the twin), data files (CSV and NDJSON, strict and lenient, and
//! the gap check), calibration checkpoints, and calibration reports read back as a posterior.
//! Each target starts from a seed corpus (the shipped models and test fixtures, data written by
//! the project, a real checkpoint, a fleet report), mutates it with seeded, structure-aware
//! edits (numbers replaced by edge values, lines deleted or repeated, characters flipped, the
//! text cut short) and checks that the reader answers with a value or an error, never a panic;
//! a model refusal must name its line. Every number of every shipped model is also set in turn
//! to edge values, exhaustively.
//!
//! A bounded run is part of the test suite. For a longer campaign:
//! `MACHINE_TWIN_FUZZ_ITERATIONS=20000 MACHINE_TWIN_FUZZ_SEED=7 cargo test --release -p
//! machine-twin --test fuzz -- --nocapture`; a mutant that panics is written to
//! `target/fuzz-findings/` and the test fails naming it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use machine_twin::calibrate::{
    Checkpoint, Estimator, ParticleFilter, draw_prior, read_distribution,
};
use machine_twin::data::{DataTable, Policy};
use machine_twin::{Error, Model, Twin};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// Values that break careless readers: zero, negatives, huge, tiny, non-finite spellings,
/// integers just past 2^32 and 2^63, empty.
const EDGE_VALUES: &[&str] = &[
    "0",
    "-1",
    "-0.0",
    "1e308",
    "-1e308",
    "1e-300",
    "nan",
    "inf",
    "4294967296",
    "9223372036854775808",
    "18446744073709551617",
    "2147483648",
    "\"\"",
    "[]",
    "abc",
    "1,5",
    "2026-12-03T06:56:58Z",
];

fn iterations() -> usize {
    std::env::var("MACHINE_TWIN_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn seed() -> u64 {
    std::env::var("MACHINE_TWIN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Byte ranges of the numbers in `text`.
fn numbers(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit()
            || (bytes[i] == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit));
        if starts && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'_') {
            let start = i;
            i += 1;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || b".-+".contains(&bytes[i]))
            {
                i += 1;
            }
            spans.push((start, i));
        } else {
            i += 1;
        }
    }
    spans
}

/// `text` with one to three random edits.
fn mutate(text: &str, rng: &mut Pcg64) -> String {
    let mut out = text.to_string();
    for _ in 0..rng.random_range(1..=3) {
        match rng.random_range(0..6) {
            0 | 1 => {
                let spans = numbers(&out);
                if !spans.is_empty() {
                    let (a, b) = spans[rng.random_range(0..spans.len())];
                    let value = EDGE_VALUES[rng.random_range(0..EDGE_VALUES.len())];
                    out.replace_range(a..b, value);
                }
            }
            2 => {
                let lines: Vec<&str> = out.lines().collect();
                if !lines.is_empty() {
                    let drop = rng.random_range(0..lines.len());
                    out = lines
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != drop)
                        .map(|(_, l)| format!("{l}\n"))
                        .collect();
                }
            }
            3 => {
                let lines: Vec<&str> = out.lines().collect();
                if !lines.is_empty() {
                    let copy = lines[rng.random_range(0..lines.len())].to_string();
                    let at = rng.random_range(0..=lines.len());
                    let mut new: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                    new.insert(at, copy);
                    out = new.join("\n") + "\n";
                }
            }
            4 => {
                // A printable ASCII character at a character boundary.
                if !out.is_empty() {
                    let mut at = rng.random_range(0..out.len());
                    while !out.is_char_boundary(at) {
                        at -= 1;
                    }
                    let c = char::from(rng.random_range(0x20u8..0x7f));
                    let end = out[at..].chars().next().map_or(at, |ch| at + ch.len_utf8());
                    out.replace_range(at..end, &c.to_string());
                }
            }
            _ => {
                let mut at = rng.random_range(0..=out.len());
                while !out.is_char_boundary(at) {
                    at -= 1;
                }
                out.truncate(at);
            }
        }
    }
    out
}

/// Runs `target` on `iterations` mutants of each seed (`target` says whether the reader
/// accepted the mutant); returns the executions. A panic writes the mutant to
/// `target/fuzz-findings/` and fails the test.
fn fuzz(name: &str, seeds: &[String], target: impl Fn(&str) -> bool) -> usize {
    let mut rng = Pcg64::seed_from_u64(seed() ^ name.len() as u64);
    let (mut runs, mut accepted) = (0, 0);
    let mut findings = Vec::new();
    for seed_text in seeds {
        for _ in 0..iterations() {
            let mutant = mutate(seed_text, &mut rng);
            runs += 1;
            match catch_unwind(AssertUnwindSafe(|| target(&mutant))) {
                Ok(ok) => accepted += usize::from(ok),
                Err(_) => {
                    let dir = root().join("target/fuzz-findings");
                    std::fs::create_dir_all(&dir).unwrap();
                    let path = dir.join(format!("{name}-{}.txt", findings.len()));
                    std::fs::write(&path, &mutant).unwrap();
                    findings.push(path.display().to_string());
                }
            }
        }
    }
    eprintln!(
        "fuzz {name}: {runs} executions, {accepted} mutants accepted, {} panics",
        findings.len()
    );
    assert!(findings.is_empty(), "{name}: panics on {findings:?}");
    runs
}

fn shipped_models() -> Vec<String> {
    let mut texts = Vec::new();
    for dir in ["models", "engine/tests/fixtures"] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        texts.extend(paths.iter().map(|p| std::fs::read_to_string(p).unwrap()));
    }
    texts
}

/// Model files: parse and compile (a refusal must name a line); where it compiles (and is small enough to step here), a
/// twin takes a few steps with every input at 1.
#[test]
fn fuzz_model_files() {
    let seeds = shipped_models();
    fuzz("model", &seeds, |text| {
        let model = match Model::from_toml(text, "<mutant>") {
            Ok(model) => model,
            Err(Error::Invalid { location, message }) => {
                // Every refusal names its line (a finding, like a panic, where it does not).
                assert!(location.line.is_some(), "no line in `{message}`");
                return false;
            }
            Err(_) => return false,
        };
        let grid_nodes: usize = model.thermal.grids.iter().map(|g| g.cells()).sum();
        if grid_nodes <= 100_000 {
            let mut twin = Twin::new(model.clone(), 1);
            for i in 0..model.inputs.len() {
                twin.set_input(i, 1.0);
            }
            let _ = twin.advance_to(20.0 * model.dt_mech);
        }
        true
    });
}

/// Every number of every shipped model and fixture, in turn, set to each edge value: the
/// model is refused with an error that names its line, or it compiles and its twin's readings,
/// wear and damage stay finite over 200 steps (issue 15: `bearing.rear.offset = 1e308` gave
/// `wear: inf`; a grid 1e-300 m thick hung the first step).
#[test]
fn every_model_number_at_its_edges() {
    let mut failures = Vec::new();
    let mut runs = 0;
    for text in shipped_models() {
        for (start, end) in numbers(&text) {
            for value in ["1e308", "-1e308", "1e30", "-1e30", "1e-300", "0", "-1"] {
                let mutant = format!("{}{value}{}", &text[..start], &text[end..]);
                let line = text[..start].matches('\n').count() + 1;
                let origin = format!(
                    "line {line} `{}` -> {value}",
                    text.lines().nth(line - 1).unwrap_or_default()
                );
                runs += 1;
                if let Some(failure) = edge_failure(&mutant) {
                    failures.push(format!("{origin}: {failure}"));
                }
            }
        }
    }
    eprintln!(
        "model numbers at their edges: {runs} models, {} failures",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What is wrong with how `mutant` is handled, if anything.
fn edge_failure(mutant: &str) -> Option<String> {
    let model = match Model::from_toml(mutant, "<mutant>") {
        Err(Error::Invalid { location, message }) if location.line.is_none() => {
            return Some(format!("no line in `{message}`"));
        }
        Err(_) => return None,
        Ok(model) => model,
    };
    let grid_nodes: usize = model.thermal.grids.iter().map(|g| g.cells()).sum();
    if grid_nodes > 100_000 {
        return None;
    }
    let mut twin = Twin::new(model.clone(), 1);
    for i in 0..model.inputs.len() {
        twin.set_input(i, 1.0);
    }
    let stepped = catch_unwind(AssertUnwindSafe(|| {
        let _ = twin.advance_to(200.0 * model.dt_mech);
        twin
    }));
    let Ok(twin) = stepped else {
        return Some("panic while stepping".into());
    };
    let mut bad: Vec<String> = (0..model.sensors.len())
        .filter(|&s| !twin.predict(s).is_finite())
        .map(|s| format!("sensor {}", model.sensors[s].name))
        .collect();
    bad.extend(
        (0..model.wear.len())
            .filter(|&e| !twin.wear(e).is_finite())
            .map(|e| format!("wear {}", model.wear[e].name)),
    );
    bad.extend(
        (0..model.sections.len())
            .filter(|&s| !twin.damage(s).is_finite())
            .map(|s| format!("damage {}", model.sections[s].name)),
    );
    (!bad.is_empty()).then(|| format!("non-finite {}", bad.join(", ")))
}

/// Data files, as CSV and NDJSON, read strictly and leniently, then the gap check.
#[test]
fn fuzz_data_files() {
    let csv = "time,speed_cmd,current,temp\n0,0,,20\n0.5,10,0.93,20.1\n1,10,0.95,\n\
               1.5,20,1.2,20.4\n2,20,1.19,20.6\n2.5,0,0.1,20.5\n";
    let absolute = "time;speed_cmd;current\n2026-12-03T06:56:58Z;0;0,5\n\
                    2026-12-03T06:56:59Z;10;0,93\n2026-12-03T06:57:00Z;10;0,95\n";
    let ndjson = "{\"time\":0,\"speed_cmd\":0,\"current\":null}\n\
                  {\"time\":0.5,\"speed_cmd\":10,\"current\":0.93}\n\
                  {\"time\":1796281018.5,\"speed_cmd\":10,\"current\":\"nan\"}\n";
    let seeds = [csv.to_string(), absolute.to_string(), ndjson.to_string()];
    fuzz("data", &seeds, |text| {
        let mut accepted = false;
        for ndjson in [false, true] {
            for policy in [Policy::Strict, Policy::Lenient] {
                if let Ok(table) = DataTable::parse(text, "<mutant>", ndjson, policy) {
                    accepted = true;
                    let _ = table.check_max_gap(86_400.0);
                    for c in 0..table.columns.len() {
                        let _ = table.series(c);
                    }
                }
            }
        }
        accepted
    });
}

/// Calibration checkpoints: the file text of a real particle-filter checkpoint, mutated.
#[test]
fn fuzz_checkpoints() {
    let model = Model::from_toml(
        &std::fs::read_to_string(root().join("engine/tests/fixtures/flywheel.toml")).unwrap(),
        "flywheel.toml",
    )
    .unwrap();
    let prior: Vec<(f64, f64)> = model.parameters.iter().map(|p| (p.mean, p.std)).collect();
    let pf = ParticleFilter::new(&model, &draw_prior(&model, &prior, 3, 1), 1).unwrap();
    let checkpoint = Checkpoint {
        model: model.name.clone(),
        method: "pf".into(),
        runs: vec!["run.csv".into()],
        seed: 1,
        prior,
        position: (0, 4),
        filter: Some(pf.checkpoint()),
        batch: None,
        units: Vec::new(),
        joint: None,
    };
    let text = checkpoint.to_json().unwrap();
    fuzz("checkpoint", &[text], |mutant| {
        // As the file was corrupted, and as a tool might write it: a valid checksum over
        // contents that are not, so that the checks behind the checksum are fuzzed too.
        let resealed = mutant
            .find("\"checkpoint\":")
            .map(|at| {
                let body = mutant[at + "\"checkpoint\":".len()..].trim_end();
                let body = body.strip_suffix('}').unwrap_or(body);
                format!(
                    "{{\"crc32\":\"{:08x}\",\"checkpoint\":{body}}}",
                    crc32fast::hash(body.as_bytes())
                )
            })
            .unwrap_or_default();
        let mut accepted = false;
        for text in [mutant, resealed.as_str()] {
            if let Ok(cp) = Checkpoint::from_json(text, "<mutant>") {
                accepted = true;
                if let Some(filter) = &cp.filter {
                    let _ = ParticleFilter::resume(&model, filter, 1);
                }
            }
        }
        accepted
    });
}

/// A fleet calibration report of the face mill, as `twin calibrate` writes one: every declared
/// parameter's posterior, a correlation matrix, three tools' estimates of each per-unit
/// parameter, and the tools' lives.
fn face_mill_report(model: &Model) -> String {
    let n = model.parameters.len();
    let parameters: serde_json::Map<String, serde_json::Value> = model
        .parameters
        .iter()
        .map(|p| {
            (
                p.path.clone(),
                serde_json::json!({"mean": p.mean, "std": p.std * 0.5}),
            )
        })
        .collect();
    let population: serde_json::Map<String, serde_json::Value> = model
        .parameters
        .iter()
        .filter(|p| p.per_unit)
        .map(|p| {
            let units: Vec<_> = (0..3)
                .map(|u| serde_json::json!({"run": format!("tool{u}.csv"), "mean": p.mean + 0.1 * u as f64, "std": p.std * 0.3}))
                .collect();
            (p.path.clone(), serde_json::json!({ "units": units }))
        })
        .collect();
    let correlation: Vec<Vec<f64>> = (0..n)
        .map(|a| {
            (0..n)
                .map(|b| {
                    if a == b {
                        1.0
                    } else if a + b == 1 {
                        0.3
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    let report = serde_json::json!({
        "model": model.name,
        "method": "batch",
        "parameters": parameters,
        "population": population,
        "correlation": correlation,
        "lives": {"tool_worn": {"measure": "time", "unit": "s", "uncertainty": 0.1, "units": [
            {"run": "tool0.csv", "age": 2400.0, "failed": true},
            {"run": "tool1.csv", "age": 3100.0, "failed": true},
            {"run": "tool2.csv", "age": 1800.0, "failed": false}
        ]}}
    });
    serde_json::to_string_pretty(&report).unwrap()
}

/// Calibration reports read back as a forecast's posterior (`--params`, `--prior`): the reader
/// answers with a distribution or an error; a distribution it accepts holds finite means, stds
/// that are > 0, a square correlation matrix, and lives whose survival can be evaluated.
#[test]
fn fuzz_reports() {
    let model = Model::from_file(root().join("models/face_mill.toml")).unwrap();
    let n = model.parameters.len();
    fuzz("report", &[face_mill_report(&model)], |text| {
        let Ok(d) = read_distribution(text, "<mutant>", &model, true) else {
            return false;
        };
        assert!(d.mean.iter().chain(&d.std).all(|x| x.is_finite()));
        assert!(d.std.iter().all(|&s| s > 0.0));
        assert!(d.correlation.is_empty() || d.correlation.iter().all(|r| r.len() == n));
        for lives in d.lives.iter().flat_map(|l| l.values()) {
            assert!(
                lives
                    .units
                    .iter()
                    .all(|u| u.age.is_finite() && u.age >= 0.0)
            );
            for age in [0.0, 1000.0, 1e7] {
                let _ = lives.remaining(age);
            }
        }
        true
    });
}
