//! Diagnostics: what is wrong, where (file:line:column) and under which key.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a scenario file, located by line, column and dotted key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line of the offending text.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// Dotted key path such as `tablet[1].outage[0].mode` (array indices count from 0).
    /// `None` only for plain TOML syntax errors that sit outside any key.
    pub key: Option<String>,
    /// What is wrong and what is allowed instead.
    pub message: String,
}

impl Diagnostic {
    /// Builds a diagnostic at byte `offset` of `text`.
    pub(crate) fn at(text: &str, offset: usize, key: Option<String>, message: String) -> Self {
        let (line, column) = line_column(text, offset);
        Diagnostic {
            line,
            column,
            key,
            message,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.line, self.column)?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Why a scenario could not be loaded.
///
/// Every variant means "bad input" (the `vtsim` command exits 2). `Display` prints one line per
/// problem, each as `file:line:column: key: message`.
#[derive(Debug)]
pub enum ScenarioError {
    /// The file could not be read at all.
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file was read but is not a valid scenario: TOML syntax, unknown keys, wrong types or
    /// failed validation. Holds every problem found, in file order.
    Invalid {
        /// The file, as given to [`Scenario::load`](crate::Scenario::load) or
        /// [`Scenario::parse`](crate::Scenario::parse).
        path: PathBuf,
        /// At least one problem, sorted by position.
        diagnostics: Vec<Diagnostic>,
    },
}

impl ScenarioError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ScenarioError::Read { path, .. } | ScenarioError::Invalid { path, .. } => path,
        }
    }

    /// The located problems (empty for [`ScenarioError::Read`]).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ScenarioError::Read { .. } => &[],
            ScenarioError::Invalid { diagnostics, .. } => diagnostics,
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::Read { path, source } => {
                write!(f, "{}: cannot read scenario file: {source}", path.display())
            }
            ScenarioError::Invalid { path, diagnostics } => {
                for (i, diagnostic) in diagnostics.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{}:{diagnostic}", path.display())?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ScenarioError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScenarioError::Read { source, .. } => Some(source),
            ScenarioError::Invalid { .. } => None,
        }
    }
}

/// Collects diagnostics while a file is checked, so one run reports every problem.
#[derive(Debug)]
pub(crate) struct Diagnostics<'t> {
    text: &'t str,
    found: Vec<(usize, Diagnostic)>,
}

impl<'t> Diagnostics<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        Diagnostics {
            text,
            found: Vec::new(),
        }
    }

    /// Records a problem with the value or key at `span`.
    pub(crate) fn error(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        let key = (!key.is_empty()).then(|| key.to_owned());
        self.push(span.start, key, message.into());
    }

    pub(crate) fn push(&mut self, offset: usize, key: Option<String>, message: String) {
        let diagnostic = Diagnostic::at(self.text, offset, key, message);
        self.found.push((offset, diagnostic));
    }

    pub(crate) fn text(&self) -> &'t str {
        self.text
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// The diagnostics in file order (stable, so equal offsets keep the order they were found).
    pub(crate) fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.found.sort_by_key(|(offset, _)| *offset);
        self.found.into_iter().map(|(_, d)| d).collect()
    }
}

/// 1-based line and character column of byte `offset` in `text` (clamped to the end).
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters_from_one() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_column(text, 9), (2, 3));
        assert_eq!(line_column(text, 1000), (3, 1));
    }

    #[test]
    fn display_prefixes_every_line_with_the_file() {
        let text = "x\ny = 2\n";
        let err = ScenarioError::Invalid {
            path: PathBuf::from("s/a.toml"),
            diagnostics: vec![
                Diagnostic::at(text, 0, None, "bad".into()),
                Diagnostic::at(text, 6, Some("y".into()), "worse".into()),
            ],
        };
        assert_eq!(err.to_string(), "s/a.toml:1:1: bad\ns/a.toml:2:5: y: worse");
    }
}
