//! `scripts/check-self-contained.sh`, which CI runs first, refuses a tree that reaches outside
//! itself and passes one that does not. Each case is a small git repository made in a temporary
//! folder with a copy of the script.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/check-self-contained.sh"
    ))
}

fn run(dir: &Path, program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// A repository holding `files` (path, text) and the script; whether the script passes it, and
/// what it said.
fn check(name: &str, files: &[(&str, &str)]) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("self-contained-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::copy(script(), dir.join("scripts/check-self-contained.sh")).unwrap();
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    assert!(run(&dir, "git", &["init", "-q"]).status.success());
    assert!(run(&dir, "git", &["add", "-A"]).status.success());
    let out = run(&dir, "bash", &["scripts/check-self-contained.sh"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
    (out.status.success(), said)
}

const CRATE: &str = "[package]\nname = \"a\"\n";
// Spelled in pieces: the repository's own check reads this file too.
const SHARED: &str = concat!("..", "/shared");
const MACHINE: &str = concat!("/wo", "rk/shared/x");

#[test]
fn a_tree_that_stays_inside_passes() {
    let (ok, said) = check(
        "inside",
        &[
            ("crates/a/Cargo.toml", CRATE),
            (
                "crates/a/src/lib.rs",
                "const F: &str = concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/../../fixtures\");\n\
                 const R: &str = include_str!(\"../README.md\");\n",
            ),
            ("crates/a/README.md", "a\n"),
            (
                "docs/notes.md",
                &format!("The payloads once came from {SHARED}/api-payloads.\n"),
            ),
        ],
    );
    assert!(ok, "{said}");
}

#[test]
fn every_way_out_of_the_tree_is_refused() {
    for (name, path, text) in [
        (
            "manifest-dir",
            "crates/a/src/lib.rs",
            "const F: &str = concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/../../../elsewhere\");\n"
                .to_owned(),
        ),
        (
            "include",
            "crates/a/src/lib.rs",
            "const F: &str = include_str!(\"../../../../outside.json\");\n".to_owned(),
        ),
        (
            "shared",
            "scripts/fetch.sh",
            format!("cp {SHARED}/api-payloads/* fixtures/\n"),
        ),
        (
            "machine",
            "crates/a/src/lib.rs",
            format!("const F: &str = \"{MACHINE}\";\n"),
        ),
    ] {
        let (ok, said) = check(name, &[("crates/a/Cargo.toml", CRATE), (path, &text)]);
        assert!(!ok, "{name}: passed: {said}");
        assert!(said.contains("outside the repository"), "{name}: {said}");
    }
}
