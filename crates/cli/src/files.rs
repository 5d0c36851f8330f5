//! Finding scenario files: the paths given, and every `*.toml` below the folders among them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The scenario files named by `paths`, each path's files sorted, duplicates dropped.
///
/// A file is taken as given, whatever its extension; a folder contributes every `*.toml` below
/// it, recursively, skipping hidden entries (`.git`, editor droppings). A path that does not
/// exist, or a folder without scenarios, is an error: running nothing must not look like a pass.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let metadata = match fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(err) => {
                problems.push(format!("{}: {}", path.display(), describe(&err)));
                continue;
            }
        };
        if !metadata.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        if let Err(err) = collect_toml(path, &mut found) {
            problems.push(err);
            continue;
        }
        if found.is_empty() {
            problems.push(format!(
                "{}: no *.toml scenario files in this folder",
                path.display()
            ));
        }
        found.sort();
        files.extend(found);
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|file| seen.insert(file.clone()));
    Ok(files)
}

/// Appends every `*.toml` file below `dir` to `out` (unsorted).
pub(crate) fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        fs::read_dir(dir).map_err(|err| format!("{}: {}", dir.display(), describe(&err)))?;
    for entry in entries {
        let entry = entry.map_err(|err| format!("{}: {}", dir.display(), describe(&err)))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // Follows symlinks, so a linked folder of scenarios counts like a real one.
        let is_dir = fs::metadata(&path).map(|m| m.is_dir()).unwrap_or(false);
        if is_dir {
            collect_toml(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

fn describe(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "no such file or folder".to_owned(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("vtsim-cli-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn touch(&self, rel: &str) -> PathBuf {
            let path = self.0.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, "duration = \"1s\"\n").unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn folders_yield_sorted_toml_files_recursively() {
        let scratch = Scratch::new("recursive");
        let b = scratch.touch("b.toml");
        let a2 = scratch.touch("a/z.toml");
        let a1 = scratch.touch("a/deeper/y.toml");
        scratch.touch("notes.md");
        scratch.touch(".hidden/x.toml");
        let files = scenario_files(std::slice::from_ref(&scratch.0)).unwrap();
        assert_eq!(files, vec![a1, a2, b]);
    }

    #[test]
    fn files_are_taken_as_given_and_once() {
        let scratch = Scratch::new("given");
        let odd = scratch.touch("scenario.txt");
        let b = scratch.touch("b.toml");
        let files = scenario_files(&[odd.clone(), b.clone(), scratch.0.clone()]).unwrap();
        assert_eq!(files, vec![odd, b]);
    }

    #[test]
    fn missing_paths_and_empty_folders_are_errors() {
        let scratch = Scratch::new("missing");
        fs::create_dir_all(scratch.0.join("empty")).unwrap();
        let err =
            scenario_files(&[scratch.0.join("nope.toml"), scratch.0.join("empty")]).unwrap_err();
        assert!(err.contains("nope.toml: no such file or folder"), "{err}");
        assert!(err.contains("empty: no *.toml scenario files"), "{err}");
    }
}
