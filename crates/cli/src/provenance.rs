//! What a failure report needs to be replayed: the command line, and the code it replays on.

use std::path::Path;

/// The vtsim version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The short git commit this binary was built from, or `unknown` (embedded by `build.rs`).
pub const COMMIT: &str = env!("VTSIM_GIT_COMMIT");

/// `--version` text: `0.1.0 (abc1234)`.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("VTSIM_GIT_COMMIT"),
    ")"
);

/// `vtsim 0.1.0 (commit abc1234)`: a seed replays exactly only on the same code.
pub fn version_line() -> String {
    format!("vtsim {VERSION} (commit {COMMIT})")
}

/// The command that replays `seed` of the scenario at `path`.
pub fn replay_command(path: &Path, seed: u64) -> String {
    format!(
        "vtsim replay {} --seed {seed}",
        shell_quote(&path.display().to_string())
    )
}

/// `text` as one shell word: unchanged when it is plain, else single-quoted.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_lines_quote_only_when_needed() {
        assert_eq!(
            replay_command(Path::new("sim-scenarios/discover.toml"), 123),
            "vtsim replay sim-scenarios/discover.toml --seed 123"
        );
        assert_eq!(
            replay_command(Path::new("my scenarios/it's.toml"), 0),
            r"vtsim replay 'my scenarios/it'\''s.toml' --seed 0"
        );
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn the_version_line_names_version_and_commit() {
        let line = version_line();
        assert!(line.starts_with(&format!("vtsim {} (commit ", env!("CARGO_PKG_VERSION"))));
        assert!(
            !COMMIT.is_empty() && !COMMIT.contains(char::is_whitespace),
            "{COMMIT:?}"
        );
        assert_eq!(LONG_VERSION, format!("{VERSION} ({COMMIT})"));
    }
}
