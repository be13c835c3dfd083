//! A mutation fuzzer for everything the engine reads from users (issue 15): model files (parse,
//! compile and a few steps of the twin), data files (CSV and NDJSON, strict and lenient, and
//! the gap check) and calibration checkpoints. Each target starts from a seed corpus (the
//! shipped models and test fixtures, data written by the project, a real checkpoint), mutates it
//! with seeded, structure-aware edits (numbers replaced by edge values, lines deleted or
//! repeated, characters flipped, the text cut short) and checks that the reader answers with
//! a value or an error, never a panic.
//!
//! A bounded run is part of the test suite. For a longer campaign:
//! `MACHINE_TWIN_FUZZ_ITERATIONS=20000 MACHINE_TWIN_FUZZ_SEED=7 cargo test --release -p
//! machine-twin --test fuzz -- --nocapture`; a mutant that panics is written to
//! `target/fuzz-findings/` and the test fails naming it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use machine_twin::calibrate::{Checkpoint, Estimator, ParticleFilter, draw_prior};
use machine_twin::data::{DataTable, Policy};
use machine_twin::{Model, Twin};
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

/// Model files: parse and compile; where it compiles (and is small enough to step here), a
/// twin takes a few steps with every input at 1.
#[test]
fn fuzz_model_files() {
    let seeds = shipped_models();
    fuzz("model", &seeds, |text| {
        let Ok(model) = Model::from_toml(text, "<mutant>") else {
            return false;
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
