//! Each bench over its group's baselines, read from what criterion saved of the last run: the
//! figures cloudcard's performance goals are stated in, computed rather than copied by hand.

use std::path::Path;

/// One bench of a group beside one baseline of the same group, as medians of the last run.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    /// The bench group (`verify_1m`, say).
    pub group: String,
    /// The bench.
    pub bench: String,
    /// The baseline it is set against: a bench of the group whose name starts with `baseline`.
    pub baseline: String,
    /// The bench's median, in nanoseconds.
    pub median_ns: f64,
    /// The baseline's median, in nanoseconds.
    pub baseline_ns: f64,
}

impl Ratio {
    /// The bench's median over the baseline's.
    #[must_use]
    pub fn ratio(&self) -> f64 {
        self.median_ns / self.baseline_ns
    }
}

/// Every bench under `criterion` (criterion's output folder: `target/criterion`, or
/// `$CRITERION_HOME`) over each baseline of its group, from the medians criterion saved of the
/// last run (`<group>/<bench>/new/estimates.json`), ordered by group, bench and baseline. A
/// group with no baseline gives no row, and neither does a bench whose estimates are missing
/// or unreadable.
///
/// # Errors
///
/// The error of reading `criterion` itself as a folder.
pub fn ratios(criterion: &Path) -> std::io::Result<Vec<Ratio>> {
    let mut rows = Vec::new();
    for group in sorted_dirs(criterion)? {
        let Some(name) = group.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let medians: Vec<(String, f64)> = sorted_dirs(&group)
            .unwrap_or_default()
            .iter()
            .filter_map(|bench| {
                let bench_name = bench.file_name()?.to_str()?.to_owned();
                Some((bench_name, median_ns(&bench.join("new").join("estimates.json"))?))
            })
            .collect();
        let (baselines, benches): (Vec<_>, Vec<_>) =
            medians.into_iter().partition(|(bench, _)| bench.starts_with("baseline"));
        for (bench, median_ns) in &benches {
            for (baseline, baseline_ns) in &baselines {
                rows.push(Ratio {
                    group: name.clone(),
                    bench: bench.clone(),
                    baseline: baseline.clone(),
                    median_ns: *median_ns,
                    baseline_ns: *baseline_ns,
                });
            }
        }
    }
    Ok(rows)
}

/// The folders in `dir`, by name.
fn sorted_dirs(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut dirs: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The median's point estimate in criterion's `estimates.json`, if it holds a positive one.
fn median_ns(estimates: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(estimates).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("median")?.get("point_estimate")?.as_f64().filter(|ns| *ns > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder laid out as criterion leaves it, removed when dropped.
    struct Saved(std::path::PathBuf);

    impl Saved {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("cloudcard-ratios-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn bench(&self, group: &str, bench: &str, estimates: &str) {
            let dir = self.0.join(group).join(bench).join("new");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("estimates.json"), estimates).unwrap();
        }
    }

    impl Drop for Saved {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn median(ns: f64) -> String {
        format!(
            r#"{{"mean":{{"point_estimate":{}}},"median":{{"point_estimate":{ns}}}}}"#,
            ns * 9.0
        )
    }

    #[test]
    fn each_bench_is_set_over_each_baseline_of_its_group_by_median() {
        let saved = Saved::new("groups");
        saved.bench("pay_1m", "baseline_primitives", &median(1000.0));
        saved.bench("pay_1m", "baseline_maps", &median(2500.0));
        saved.bench("pay_1m", "pay", &median(5000.0));
        saved.bench("verify_1m", "baseline_hmac", &median(800.0));
        saved.bench("verify_1m", "verify", &median(1100.0));
        saved.bench("verify_1m", "verify_same_card", &median(280.0));
        // No baseline in the group: nothing to set it over.
        saved.bench("wallet", "register", &median(40_000.0));
        // Criterion's own report folder holds no estimates.
        std::fs::create_dir_all(saved.0.join("report")).unwrap();

        let rows = ratios(&saved.0).unwrap();
        let got: Vec<(&str, &str, &str, f64)> = rows
            .iter()
            .map(|r| (r.group.as_str(), r.bench.as_str(), r.baseline.as_str(), r.ratio()))
            .collect();
        assert_eq!(
            got,
            [
                ("pay_1m", "pay", "baseline_maps", 2.0),
                ("pay_1m", "pay", "baseline_primitives", 5.0),
                ("verify_1m", "verify", "baseline_hmac", 1.375),
                ("verify_1m", "verify_same_card", "baseline_hmac", 0.35),
            ]
        );
        assert_eq!((rows[0].median_ns, rows[0].baseline_ns), (5000.0, 2500.0));
    }

    #[test]
    fn unreadable_or_missing_estimates_give_no_row() {
        let saved = Saved::new("broken");
        saved.bench("detokenize_10k", "baseline_map_lookup", &median(200.0));
        saved.bench("detokenize_10k", "detokenize", "not json");
        saved.bench("detokenize_10k", "detokenize_again", r#"{"median":{"point_estimate":0}}"#);
        std::fs::create_dir_all(saved.0.join("detokenize_10k").join("never_run")).unwrap();
        assert!(ratios(&saved.0).unwrap().is_empty());
        assert!(ratios(&saved.0.join("absent")).is_err());
    }
}
