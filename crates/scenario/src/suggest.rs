//! "Did you mean": the allowed name closest to a misspelt one, for error messages.

/// `" (did you mean "x"?)"` for the candidate closest to `text`, when one is close; else `""`.
pub(crate) fn did_you_mean<'c>(
    text: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> String {
    closest(text, candidates)
        .map_or_else(String::new, |name| format!(" (did you mean \"{name}\"?)"))
}

/// The candidate closest to `text`, if one is close and is not `text` itself.
///
/// Close is clap's measure for misspelt subcommands: Jaro similarity above 0.7. Candidates are
/// tried in order and the first of equals wins, so the hint depends on nothing but its inputs.
pub(crate) fn closest<'c>(
    text: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        let score = strsim::jaro(text, candidate);
        if score > 0.7 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, name)| name).filter(|name| *name != text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_name_is_suggested_and_a_far_one_is_not() {
        let kinds = ["discover.attempt", "discover.failed", "ticker.tick"];
        assert_eq!(
            did_you_mean("discover.atempt", kinds),
            " (did you mean \"discover.attempt\"?)"
        );
        assert_eq!(
            did_you_mean("tikcer.tick", kinds),
            " (did you mean \"ticker.tick\"?)"
        );
        assert_eq!(did_you_mean("zzz", kinds), "");
        assert_eq!(did_you_mean("x", Vec::<&str>::new()), "");
    }
}
