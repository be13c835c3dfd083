//! Every `twin` command that the README shows runs as printed (issue 16): the commands of its
//! `sh` and `text` blocks (`$ twin ...` in example output, `cargo run ... -p twin-cli -- ...` in
//! the set-up), in order, from a folder that holds the repository's `models/`, `examples/` and
//! `validation/`, so that files one command writes (`run.csv`, `fleet.json`) are the next one's
//! input as they are for a reader who types them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `twin` command lines of the README's code blocks, as argument lists without `twin`.
/// Lines continued with `\` are joined; the usage synopsis (`MODEL`, `[--seed N]`, `a|b`) is
/// not a command and is left out.
fn readme_commands(readme: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut runnable = false;
    let mut pending = String::new();
    for line in readme.lines() {
        let trimmed = line.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            in_block = !in_block;
            runnable = in_block && matches!(info, "sh" | "text");
            continue;
        }
        if !runnable {
            continue;
        }
        pending.push_str(trimmed.trim_end_matches('\\'));
        pending.push(' ');
        if trimmed.ends_with('\\') {
            continue;
        }
        let line = std::mem::take(&mut pending);
        let line = line.trim().trim_start_matches("$ ");
        let args = if let Some(rest) = line.strip_prefix("twin ") {
            rest
        } else if let Some((_, rest)) = line.split_once("-p twin-cli -- ") {
            rest
        } else {
            continue;
        };
        let placeholder = |a: &str| a.len() > 1 && a.chars().all(|c| c.is_ascii_uppercase());
        if args.contains('[') || args.contains('|') || args.split_whitespace().any(placeholder) {
            continue;
        }
        // The live-twin walk-through needs a broker and runs until stopped: `tests/live.rs`
        // runs `twin serve` and `twin replay` against a real one.
        if args.starts_with("serve ") || args.starts_with("replay ") {
            continue;
        }
        commands.push(args.split_whitespace().map(String::from).collect());
    }
    commands
}

/// A scratch folder with links to the repository's inputs.
fn workspace() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("twin-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for part in ["models", "examples", "validation"] {
        let link = dir.join(part);
        if !link.exists() {
            std::os::unix::fs::symlink(root().join(part).canonicalize().unwrap(), &link).unwrap();
        }
    }
    dir
}

/// The files a command says it writes.
fn outputs(args: &[String]) -> Vec<&str> {
    args.windows(2)
        .filter(|w| matches!(w[0].as_str(), "--out" | "--report" | "--plot"))
        .map(|w| w[1].as_str())
        .collect()
}

#[test]
fn every_readme_command_runs_as_printed() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let commands = readme_commands(&readme);
    // The set-up's main job, simulate → calibrate, the face-mill fleet and forecast, the
    // bearing fleet and a new bearing, the example outputs.
    assert!(commands.len() >= 9, "{commands:?}");
    let dir = workspace();
    for args in &commands {
        let o = Command::new(env!("CARGO_BIN_EXE_twin"))
            .args(args)
            .current_dir(&dir)
            .env_remove("TWIN_DATA_DIR")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "twin {}\n{said}", args.join(" "));
        assert!(!said.contains("warning"), "twin {}\n{said}", args.join(" "));
        for file in outputs(args) {
            let written = Path::new(&dir).join(file);
            assert!(
                std::fs::metadata(&written).is_ok_and(|m| m.len() > 0),
                "twin {} wrote no {file}",
                args.join(" ")
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_synopsis_is_not_taken_for_a_command() {
    let text = "```sh\ntwin check MODEL\ntwin simulate MODEL [--seed N]\n```\n```sh\n  twin simulate a.toml \\\n      --seed 7\n```\n```rust\ntwin x\n```\n";
    assert_eq!(
        readme_commands(text),
        [["simulate", "a.toml", "--seed", "7"]]
    );
}
