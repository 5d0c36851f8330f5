//! `vtsim replay`: the trace of one seed, as text, JSON lines or Chrome trace events.

use std::io::{self, Write};

use crate::cli::ReplayArgs;
use crate::commands::{load, note};
use crate::export::{write_trace, TraceFilter};
use crate::provenance::version_line;
use crate::severity::Severity;
use crate::verdict::{run_seed, Verdict};

pub(crate) fn replay(args: ReplayArgs) -> Severity {
    let scenario = match load(&args.target.file) {
        Ok(scenario) => scenario,
        Err(severity) => return severity,
    };
    if let (Some(from), Some(until)) = (args.from, args.until) {
        if until <= from {
            note(&format!(
                "vtsim replay: --until ({until:?}) must be later than --from ({from:?}); the window is [from, until)"
            ));
            return Severity::BadInput;
        }
    }
    let seed = args.target.seed;
    let run = match run_seed(&scenario, seed) {
        Ok(run) => run,
        Err(verdict) => {
            note(verdict.what.as_deref().unwrap_or_default());
            return verdict.severity;
        }
    };
    // `--hash` prints the hash itself; otherwise stderr names it.
    let verdict = Verdict::of(&run, !args.hash);
    let filter = TraceFilter {
        kinds: args.kind,
        from: args.from,
        until: args.until,
    };
    let mut bytes = Vec::new();
    let shown = if args.hash {
        bytes.extend_from_slice(format!("{}\n", run.trace.hash_hex()).as_bytes());
        0
    } else {
        let events = filter.apply(&run.trace);
        let title = format!("{} seed {seed}", scenario.name);
        write_trace(&mut bytes, &events, args.format.into(), &title)
            .expect("writing to a Vec cannot fail");
        events.len()
    };
    let written = match &args.output {
        Some(path) => std::fs::write(path, &bytes)
            .map_err(|err| format!("vtsim replay: cannot write {}: {err}", path.display())),
        None => {
            let mut out = io::stdout().lock();
            match out.write_all(&bytes).and_then(|()| out.flush()) {
                Err(err) if err.kind() == io::ErrorKind::BrokenPipe => std::process::exit(141),
                other => {
                    other.map_err(|err| format!("vtsim replay: cannot write to stdout: {err}"))
                }
            }
        }
    };
    if let Err(problem) = written {
        note(&problem);
        return Severity::BadInput;
    }
    if !args.hash {
        note(&format!(
            "vtsim replay {} seed {seed}: {} ({shown} of {} events shown, hash {}) [{}]",
            scenario.name,
            verdict.what.as_deref().unwrap_or("pass"),
            run.trace.len(),
            verdict.hash.as_deref().unwrap_or_default(),
            version_line()
        ));
    }
    verdict.severity
}
