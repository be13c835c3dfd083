//! The module layering of ARCHITECTURE.md ("Modules and what each may import"), checked on the
//! sources: every `crate::MODULE` path in a module's code names a module of a lower layer (or
//! itself). The physics laws (`fatigue`, `wear`, `thermal`) import only the leaves, so there is
//! no import cycle through `model`, its parameters and the physics.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, bottom first: a module may import its own layer's leaves only where it is a
/// leaf itself (none of them import each other), and every module of a lower layer.
const LAYERS: &[&[&str]] = &[
    &["error", "source", "stats"],
    &["fatigue", "wear", "thermal"],
    &["model"],
    &["data"],
    &["twin"],
    &["simulate", "prognosis"],
    &["calibrate"],
    &["validation"],
];

/// The modules `module` may import: those of every lower layer.
fn allowed(module: &str) -> Vec<&'static str> {
    let layer = LAYERS
        .iter()
        .position(|l| l.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` has no layer"));
    LAYERS[..layer]
        .iter()
        .flat_map(|l| l.iter().copied())
        .collect()
}

fn sources_of(module: &str) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let file = src.join(format!("{module}.rs"));
    if file.exists() {
        return vec![file];
    }
    let mut out = Vec::new();
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    assert!(!out.is_empty(), "no sources for module `{module}`");
    out
}

/// The top-level modules named by `crate::NAME` in the code (comments left out) of `file`.
fn imports(file: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn modules_import_only_lower_layers() {
    let known: BTreeSet<&str> = LAYERS.iter().flat_map(|l| l.iter().copied()).collect();
    let mut violations = Vec::new();
    for module in &known {
        let allowed = allowed(module);
        for file in sources_of(module) {
            for name in imports(&file) {
                let ok = name == *module || allowed.contains(&name.as_str());
                if !ok && known.contains(name.as_str()) {
                    violations.push(format!("{}: crate::{name}", file.display()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layering of ARCHITECTURE.md:\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_layer() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    for line in lib.lines() {
        if let Some(name) = line.trim().strip_prefix("pub mod ") {
            let name = name.trim_end_matches(';');
            assert!(
                LAYERS.iter().any(|l| l.contains(&name)),
                "module `{name}` has no layer in this test (and in ARCHITECTURE.md)"
            );
        }
    }
}
