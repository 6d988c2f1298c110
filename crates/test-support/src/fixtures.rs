//! The repository's test fixtures (`fixtures/` at the root), found from this crate so every
//! crate's tests read the same single copy and never a path outside the repository.
use std::path::PathBuf;

/// The root of the repository's fixtures.
pub fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures"))
}

/// The folder of published API payloads (`<name>.json`, each with its `<name>.source.txt`).
pub fn api_payloads() -> PathBuf {
    root().join("api-payloads")
}

/// The text of the published payload `name` (without `.json`).
pub fn api_payload_text(name: &str) -> String {
    let path = api_payloads().join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("payload {}: {e}", path.display()))
}

/// The published payload `name` (without `.json`), parsed.
pub fn api_payload(name: &str) -> serde_json::Value {
    serde_json::from_str(&api_payload_text(name)).unwrap_or_else(|e| panic!("payload {name}: {e}"))
}

/// The JSON document at `relative` under the fixtures root (an API description, ...).
pub fn json(relative: &str) -> serde_json::Value {
    let path = root().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names (without `.json`) of every published payload whose name starts with `prefix`,
/// sorted.
pub fn api_payload_names(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(api_payloads())
        .expect("the payload folder")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".json")?;
            stem.starts_with(prefix).then(|| stem.to_string())
        })
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_payload_is_json_with_its_source_noted() {
        let names = api_payload_names("");
        assert!(names.len() >= 30, "the payloads are found: {names:?}");
        for name in names {
            api_payload(&name);
            let source = api_payloads().join(format!("{name}.source.txt"));
            let text = std::fs::read_to_string(&source)
                .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
            assert!(!text.trim().is_empty(), "{name} notes its source");
        }
    }
}
