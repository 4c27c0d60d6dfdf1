//! Every Rust snippet in the repository's Markdown files is compiled: each
//! Markdown file that holds one is included as doc tests in
//! `examples/src/lib.rs`, and no snippet is marked `ignore`.

use std::path::{Path, PathBuf};

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if !matches!(name.as_ref(), "target" | ".git") {
                markdown_files(&path, out);
            }
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_snippet_in_markdown_is_a_doc_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let lib = std::fs::read_to_string(root.join("examples/src/lib.rs")).unwrap();
    let mut files = Vec::new();
    markdown_files(root, &mut files);
    assert!(files.len() > 5, "found only {files:?}");
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let rel = file.strip_prefix(root).unwrap().display().to_string();
        let fences: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("```"))
            .filter(|info| info.starts_with("rust"))
            .collect();
        if fences.is_empty() {
            continue;
        }
        for info in &fences {
            assert!(
                !info.contains("ignore"),
                "{rel}: a snippet marked `{info}` is never compiled"
            );
        }
        let include = format!("include_str!(\"../../{rel}\")");
        assert!(
            lib.contains(&include),
            "{rel} holds Rust snippets but examples/src/lib.rs does not compile them ({include})"
        );
        checked += 1;
    }
    assert!(
        checked >= 1,
        "no Markdown file with Rust snippets was found"
    );
}
