use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `tokio::select!` picks a ready branch at random unless told `biased;`, and its RNG is not the
/// simulation's: every use in the workspace must be biased.
#[test]
fn every_select_is_biased() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("crates"), &mut files);
    sources(&root.join("src"), &mut files);
    assert!(files.len() > 20, "found only {} sources", files.len());
    let mut unbiased = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("select! {") {
            let line = text[..at].lines().count();
            let after = &text[at + "select! {".len()..];
            let first = after.split_whitespace().next().unwrap_or("");
            let in_comment = text[..at]
                .rsplit('\n')
                .next()
                .is_some_and(|l| l.trim_start().starts_with("//"));
            if first != "biased;" && !in_comment {
                unbiased.push(format!(
                    "{}:{line}",
                    file.strip_prefix(root).unwrap().display()
                ));
            }
        }
    }
    assert!(
        unbiased.is_empty(),
        "tokio::select! without `biased;` at: {unbiased:?}"
    );
}
