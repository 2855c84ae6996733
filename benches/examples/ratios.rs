//! Prints each bench of the last `cargo bench -p cloudcard-benches` run over each baseline of
//! its group, as medians and their ratio: `cargo run -p cloudcard-benches --example ratios`
//! (from the workspace's folder), or with criterion's output folder named as the argument.
//! `$CRITERION_HOME`, where criterion writes when it is set, is read when no folder is named.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let folder = std::env::args_os()
        .nth(1)
        .or_else(|| std::env::var_os("CRITERION_HOME"))
        .map_or_else(|| PathBuf::from("target/criterion"), PathBuf::from);
    let rows = match cloudcard_benches::ratios::ratios(&folder) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("cannot read {}: {e}", folder.display());
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{:<28} {:<28} {:>12} {:<56} {:>12} {:>7}",
        "group", "bench", "median ns", "baseline", "median ns", "ratio"
    );
    for row in &rows {
        println!(
            "{:<28} {:<28} {:>12.1} {:<56} {:>12.1} {:>6.2}x",
            row.group,
            row.bench,
            row.median_ns,
            row.baseline,
            row.baseline_ns,
            row.ratio()
        );
    }
    ExitCode::SUCCESS
}
