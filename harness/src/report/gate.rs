//! The recovery-time regression gate's statistics (issue 15): is this
//! build's recovery slower than the baseline's, beyond what the noise of
//! repeated runs explains? A fixed budget cannot say: a release can take
//! twice as long to recover and still be within it.
//!
//! The test is a one-sided Mann-Whitney U (Wilcoxon rank-sum) on the two
//! samples of recovery seconds, because recovery times are skewed and
//! few (3-10 runs a side), so nothing normal may be assumed. The p-value
//! is exact: every way of splitting the pooled midranks into the two
//! sizes is counted, which handles ties too. Past `EXACT_LIMIT` splits it
//! falls back to the normal approximation with tie correction. The effect
//! size is printed beside it: Cliff's delta (the share of pairs where the
//! candidate is slower, minus the share where it is faster) and the
//! Hodges-Lehmann shift (the median of the pairwise differences, in
//! seconds).
//!
//! A [`Baseline`] is the stored side: recovery times of N runs on a known
//! build, committed under `tests/snapshots/baselines/`.
//!
//! The verdict is honest about sample size: when even a complete
//! separation of the samples could not reach `alpha`, the gate says it
//! cannot decide at this many runs instead of passing.

use serde::{Deserialize, Serialize};

/// Splits of the pooled sample counted exactly; larger samples use the
/// normal approximation. C(20, 10) = 184,756 fits well below it.
pub const EXACT_LIMIT: u64 = 2_000_000;

/// The significance level the gate uses unless told otherwise.
pub const DEFAULT_ALPHA: f64 = 0.05;

/// The smallest shift that counts as slower, in seconds, however
/// significant: recovery times of one build differ by milliseconds from
/// batch to batch, and a complete separation by 1 ms is "significant"
/// (the first real gate run called 6.0713-6.0730 s against 6.0695-6.0706 s
/// slower, shift +0.00 s).
pub const MIN_SHIFT_SECS: f64 = 0.5;

/// ... and the smallest shift as a share of the baseline's median.
pub const MIN_SHIFT_SHARE: f64 = 0.10;

/// What the gate concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateVerdict {
    /// Slower than the baseline with p <= alpha: the gate fails.
    Slower,
    /// Not significantly slower, or slower by less than the smallest
    /// shift that counts: the gate passes (the figures still say by how
    /// much it moved).
    NotSlower,
    /// Too few runs: even complete separation could not reach alpha.
    TooFewRuns,
}

/// The test's figures, everything a reader needs to judge the verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegressionTest {
    /// Baseline runs.
    pub baseline_n: usize,
    /// Candidate runs.
    pub candidate_n: usize,
    /// U of the candidate: pairs where it is slower, ties counting half.
    pub u: f64,
    /// One-sided p-value of "the candidate is slower".
    pub p_value: f64,
    /// Whether `p_value` was counted exactly (or approximated).
    pub exact: bool,
    /// The smallest p-value these sample sizes can reach.
    pub min_p_value: f64,
    /// Cliff's delta in [-1, 1]: +1 means every candidate run was slower
    /// than every baseline run.
    pub cliffs_delta: f64,
    /// Median of the pairwise differences candidate - baseline, seconds.
    pub shift_secs: f64,
    /// The level tested at.
    pub alpha: f64,
    /// The smallest shift that counts: `MIN_SHIFT_SECS` or
    /// `MIN_SHIFT_SHARE` of the baseline's median, whichever is larger.
    pub min_shift_secs: f64,
    /// The conclusion.
    pub verdict: GateVerdict,
}

impl RegressionTest {
    /// Tests whether `candidate` recovery times are slower than
    /// `baseline`'s at level `alpha`. `None` when a side is empty or a
    /// value is not finite.
    pub fn run(baseline: &[f64], candidate: &[f64], alpha: f64) -> Option<RegressionTest> {
        let (n, m) = (baseline.len(), candidate.len());
        if n == 0 || m == 0 || baseline.iter().chain(candidate).any(|v| !v.is_finite()) {
            return None;
        }
        let mut u = 0.0;
        let mut diffs = Vec::with_capacity(n * m);
        for c in candidate {
            for b in baseline {
                u += match c.partial_cmp(b).expect("finite") {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                };
                diffs.push(c - b);
            }
        }
        let pairs = (n * m) as f64;
        let ranks = midranks(baseline, candidate);
        let (p_value, exact) = if binomial(n + m, m) <= EXACT_LIMIT {
            (exact_upper_tail(&ranks, m), true)
        } else {
            (normal_upper_tail(&ranks, m, u), false)
        };
        // The most extreme split: every candidate run above every baseline run.
        let min_p_value = if binomial(n + m, m) <= EXACT_LIMIT {
            1.0 / binomial(n + m, m) as f64
        } else {
            0.0
        };
        let shift_secs = median(&mut diffs);
        let min_shift_secs = MIN_SHIFT_SECS.max(MIN_SHIFT_SHARE * median(&mut baseline.to_vec()));
        let verdict = if min_p_value > alpha {
            GateVerdict::TooFewRuns
        } else if p_value <= alpha && shift_secs >= min_shift_secs {
            GateVerdict::Slower
        } else {
            GateVerdict::NotSlower
        };
        Some(RegressionTest {
            baseline_n: n,
            candidate_n: m,
            u,
            p_value,
            exact,
            min_p_value,
            cliffs_delta: 2.0 * u / pairs - 1.0,
            shift_secs,
            alpha,
            min_shift_secs,
            verdict,
        })
    }

    /// One line for the terminal and the report.
    pub fn summary(&self) -> String {
        let what = match self.verdict {
            GateVerdict::Slower => "slower than the baseline",
            GateVerdict::NotSlower if self.p_value <= self.alpha => {
                "not slower than the baseline by a shift that counts"
            }
            GateVerdict::NotSlower => "not significantly slower than the baseline",
            GateVerdict::TooFewRuns => "undecided: too few runs",
        };
        let mut line = format!(
            "{what}: Mann-Whitney U = {:.1} of {} pairs, one-sided p = {:.4}{} (alpha {}), Cliff's delta {:+.2}, shift {:+.2} s",
            self.u,
            self.baseline_n * self.candidate_n,
            self.p_value,
            if self.exact { "" } else { " (normal approx.)" },
            self.alpha,
            self.cliffs_delta,
            self.shift_secs,
        );
        if self.verdict == GateVerdict::NotSlower && self.p_value <= self.alpha {
            line.push_str(&format!(
                "; significant, but below the smallest shift that counts ({:.2} s)",
                self.min_shift_secs
            ));
        }
        if self.verdict == GateVerdict::TooFewRuns {
            line.push_str(&format!(
                "; {} against {} runs cannot reach p <= {} (best possible {:.3}): run more of each",
                self.candidate_n, self.baseline_n, self.alpha, self.min_p_value
            ));
        }
        line
    }
}

/// Where baselines live: one JSON file per incident, committed beside
/// the snapshots, so a baseline changes in review like a snapshot does.
pub const BASELINE_DIR: &str = "tests/snapshots/baselines";

/// A stored baseline: the recovery times of N runs of one incident on a
/// known build, which later runs are tested against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// The incident's name (`weibo_2017_after`).
    pub incident: String,
    /// The commit the runs were made at, for the reader.
    pub commit: String,
    /// Recovery seconds, one per run that measured it.
    pub recovery_secs: Vec<f64>,
}

impl Baseline {
    /// `<root>/tests/snapshots/baselines/<incident>.json`.
    pub fn path(root: &std::path::Path, incident: &str) -> std::path::PathBuf {
        root.join(BASELINE_DIR).join(format!("{incident}.json"))
    }

    /// Reads an incident's baseline; a missing one is one line naming the
    /// command that makes it.
    pub fn load(root: &std::path::Path, incident: &str) -> anyhow::Result<Baseline> {
        let path = Self::path(root, incident);
        let text = std::fs::read_to_string(&path).map_err(|_| {
            anyhow::anyhow!(
                "`{incident}` has no baseline ({} is missing): run `incident baseline save {incident} --repeat 5` on the build to compare against, and commit the file",
                path.display()
            )
        })?;
        let b: Baseline = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a baseline ({e}): save it again with `incident baseline save {incident}`",
                path.display()
            )
        })?;
        if b.incident != incident {
            anyhow::bail!(
                "{} is the baseline of `{}`, not `{incident}`: save it again with `incident baseline save {incident}`",
                path.display(),
                b.incident
            );
        }
        Ok(b)
    }

    /// Writes the baseline where `load` finds it.
    pub fn save(&self, root: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
        let path = Self::path(root, &self.incident);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, serde_json::to_string_pretty(self)? + "\n")?;
        Ok(path)
    }

    /// Tests `candidate` recovery times against this baseline.
    pub fn test(&self, candidate: &[f64], alpha: f64) -> Option<RegressionTest> {
        RegressionTest::run(&self.recovery_secs, candidate, alpha)
    }
}

/// The pooled sample's midranks, baseline first, then candidate.
fn midranks(baseline: &[f64], candidate: &[f64]) -> Vec<f64> {
    let pooled: Vec<f64> = baseline.iter().chain(candidate).copied().collect();
    let mut order: Vec<usize> = (0..pooled.len()).collect();
    order.sort_by(|&a, &b| pooled[a].partial_cmp(&pooled[b]).expect("finite"));
    let mut ranks = vec![0.0; pooled.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && pooled[order[j + 1]] == pooled[order[i]] {
            j += 1;
        }
        // Ranks i+1..=j+1 share their mean.
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = mid;
        }
        i = j + 1;
    }
    ranks
}

/// P(rank sum of a random `m`-subset >= the candidate's): every subset
/// counted, so ties are exact.
fn exact_upper_tail(ranks: &[f64], m: usize) -> f64 {
    let total = ranks.len();
    let observed: f64 = ranks[total - m..].iter().sum();
    let (mut at_least, mut all) = (0u64, 0u64);
    let mut pick: Vec<usize> = (0..m).collect();
    loop {
        all += 1;
        let sum: f64 = pick.iter().map(|&i| ranks[i]).sum();
        // Rank sums are multiples of 0.5; the epsilon absorbs float error.
        if sum >= observed - 1e-9 {
            at_least += 1;
        }
        // Next combination in lexicographic order.
        let Some(i) = (0..m).rev().find(|&i| pick[i] < total - m + i) else {
            break;
        };
        pick[i] += 1;
        for j in i + 1..m {
            pick[j] = pick[j - 1] + 1;
        }
    }
    at_least as f64 / all as f64
}

/// The normal approximation with tie correction and continuity
/// correction, for samples too large to count.
fn normal_upper_tail(ranks: &[f64], m: usize, u: f64) -> f64 {
    let total = ranks.len() as f64;
    let (n, m) = (total - m as f64, m as f64);
    let mean = n * m / 2.0;
    let mut sorted = ranks.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    let mut ties = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let j = sorted[i..].iter().take_while(|&&r| r == sorted[i]).count();
        let t = j as f64;
        ties += t * t * t - t;
        i += j;
    }
    let var = n * m / 12.0 * ((total + 1.0) - ties / (total * (total - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = (u - mean - 0.5) / var.sqrt();
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' erfcc, |error| < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

fn binomial(n: usize, k: usize) -> u64 {
    let k = k.min(n - k) as u64;
    let mut c: u64 = 1;
    for i in 0..k {
        c = match c.checked_mul(n as u64 - i) {
            Some(v) => v / (i + 1),
            None => return u64::MAX,
        };
    }
    c
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn exact_p_matches_the_tables() {
        // Complete separation of 3 and 3: 1 split in C(6,3) = 20.
        let t = RegressionTest::run(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0], 0.05).unwrap();
        assert!(close(t.p_value, 0.05), "{t:?}");
        assert_eq!(t.u, 9.0);
        assert_eq!(t.cliffs_delta, 1.0);
        assert_eq!(t.verdict, GateVerdict::Slower);
        // One swap: U = 8, splits with rank sum >= 14 of 20 are 2.
        let t = RegressionTest::run(&[1.0, 2.0, 4.0], &[3.0, 5.0, 6.0], 0.05).unwrap();
        assert!(close(t.p_value, 0.10), "{t:?}");
        assert_eq!(t.verdict, GateVerdict::NotSlower);
        // 4 against 4, complete separation: 1 / C(8,4) = 1/70.
        let t = RegressionTest::run(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0], 0.05).unwrap();
        assert!(close(t.p_value, 1.0 / 70.0), "{t:?}");
        // Faster is never "slower": the test is one-sided.
        let t = RegressionTest::run(&[5.0, 6.0, 7.0, 8.0], &[1.0, 2.0, 3.0, 4.0], 0.05).unwrap();
        assert!(close(t.p_value, 1.0), "{t:?}");
        assert_eq!(t.cliffs_delta, -1.0);
        assert_eq!(t.verdict, GateVerdict::NotSlower);
    }

    #[test]
    fn ties_are_counted_exactly() {
        // All equal: every split has the same rank sum, p = 1.
        let t = RegressionTest::run(&[2.0, 2.0, 2.0], &[2.0, 2.0, 2.0], 0.05).unwrap();
        assert!(close(t.p_value, 1.0), "{t:?}");
        assert_eq!(t.u, 4.5);
        assert_eq!(t.cliffs_delta, 0.0);
        assert_eq!(t.shift_secs, 0.0);
        assert_eq!(t.verdict, GateVerdict::NotSlower);
    }

    #[test]
    fn two_runs_a_side_cannot_decide() {
        let t = RegressionTest::run(&[1.0, 2.0], &[30.0, 40.0], 0.05).unwrap();
        assert_eq!(t.verdict, GateVerdict::TooFewRuns, "{t:?}");
        assert!(close(t.min_p_value, 1.0 / 6.0));
        let s = t.summary();
        assert!(s.contains("run more of each") && !s.contains('\n'), "{s}");
    }

    /// Recovery seconds from BENCHMARKS.md: leancloud_2015_08_after's
    /// seed-stability runs (22.2-23.1 s), and its ablation at b75e077,
    /// where removing graduated_admission made recovery 8.8-9.8 s and
    /// keeping it 22.3-22.7 s. The endpoints are measured; the points
    /// between them are filled in to make five a side.
    #[test]
    fn catches_the_measured_slower_variant_and_passes_a_same_build_rerun() {
        // Same build, two batches: must pass.
        let baseline = [22.4, 23.0, 23.1, 22.2, 22.8];
        let rerun = [22.7, 22.3, 23.0, 22.5, 22.8];
        let t = RegressionTest::run(&baseline, &rerun, DEFAULT_ALPHA).unwrap();
        assert_eq!(t.verdict, GateVerdict::NotSlower, "{}", t.summary());
        assert!(t.p_value > 0.2, "{}", t.summary());
        // The variant without graduated_admission as the baseline, the
        // set with it as the candidate: slower by ~13 s, still within
        // the 60 s budget, so only the gate sees it.
        let without = [8.8, 9.8, 9.1, 9.4, 8.9];
        let with = [22.3, 22.7, 22.4, 22.5, 22.6];
        let t = RegressionTest::run(&without, &with, DEFAULT_ALPHA).unwrap();
        assert_eq!(t.verdict, GateVerdict::Slower, "{}", t.summary());
        assert!(close(t.p_value, 1.0 / 252.0), "{}", t.summary());
        assert!(
            t.shift_secs > 12.0 && t.shift_secs < 14.5,
            "{}",
            t.summary()
        );
        assert!(t.summary().starts_with("slower than the baseline"));
        // As measured, two runs a side: the gate must not claim it.
        let t = RegressionTest::run(&[8.8, 9.8], &[22.3, 22.7], DEFAULT_ALPHA).unwrap();
        assert_eq!(t.verdict, GateVerdict::TooFewRuns, "{}", t.summary());
    }

    #[test]
    fn the_normal_approximation_agrees_with_counting() {
        let b: Vec<f64> = (0..9).map(|i| 10.0 + i as f64 * 0.3).collect();
        let c: Vec<f64> = (0..9).map(|i| 10.9 + i as f64 * 0.3).collect();
        let exact = RegressionTest::run(&b, &c, 0.05).unwrap();
        assert!(exact.exact);
        let ranks = midranks(&b, &c);
        let approx = normal_upper_tail(&ranks, c.len(), exact.u);
        assert!(
            (approx - exact.p_value).abs() < 0.01,
            "exact {} approx {approx}",
            exact.p_value
        );
        // Large samples are approximated, and a clear shift is caught.
        let b: Vec<f64> = (0..40).map(|i| i as f64).collect();
        let c: Vec<f64> = (0..40).map(|i| i as f64 + 15.0).collect();
        let t = RegressionTest::run(&b, &c, 0.05).unwrap();
        assert!(!t.exact && t.verdict == GateVerdict::Slower, "{t:?}");
    }

    #[test]
    fn a_baseline_round_trips_and_a_missing_one_names_the_command() {
        let root = std::env::temp_dir().join(format!("gate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let msg = Baseline::load(&root, "weibo_2017_after")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("has no baseline")
                && msg.contains("incident baseline save weibo_2017_after")
                && !msg.contains('\n'),
            "{msg}"
        );
        let b = Baseline {
            incident: "weibo_2017_after".into(),
            commit: "be74b35".into(),
            recovery_secs: vec![6.08, 6.1, 6.11, 6.2, 6.2],
        };
        let path = b.save(&root).unwrap();
        assert!(path.ends_with("tests/snapshots/baselines/weibo_2017_after.json"));
        assert_eq!(Baseline::load(&root, "weibo_2017_after").unwrap(), b);
        // A file copied under another incident's name is refused.
        std::fs::copy(&path, Baseline::path(&root, "leancloud_2015_08_after")).unwrap();
        let msg = Baseline::load(&root, "leancloud_2015_08_after")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("is the baseline of `weibo_2017_after`"),
            "{msg}"
        );
        let t = b
            .test(&[6.1, 6.15, 6.2, 6.09, 6.12], DEFAULT_ALPHA)
            .unwrap();
        assert_eq!(t.verdict, GateVerdict::NotSlower, "{}", t.summary());
        let _ = std::fs::remove_dir_all(&root);
    }

    /// The first real gate run (weibo_2017_after, 3 against 3 at
    /// 1a5f1c8, same build): every candidate run 1 ms slower than every
    /// baseline run, p = 0.05, and the gate without a smallest shift
    /// called it slower.
    #[test]
    fn a_significant_millisecond_is_not_a_regression() {
        let baseline = [6.069535949, 6.070586551, 6.06947704];
        let rerun = [6.072336334, 6.071337874, 6.073032956];
        let t = RegressionTest::run(&baseline, &rerun, DEFAULT_ALPHA).unwrap();
        assert!(close(t.p_value, 0.05), "{t:?}");
        assert_eq!(t.verdict, GateVerdict::NotSlower, "{}", t.summary());
        assert!(
            t.summary()
                .contains("below the smallest shift that counts (0.61 s)"),
            "{}",
            t.summary()
        );
        // The same separation by a second counts.
        let slower: Vec<f64> = baseline.iter().map(|s| s + 1.0).collect();
        let t = RegressionTest::run(&baseline, &slower, DEFAULT_ALPHA).unwrap();
        assert_eq!(t.verdict, GateVerdict::Slower, "{}", t.summary());
    }

    #[test]
    fn empty_or_non_finite_samples_are_refused() {
        assert!(RegressionTest::run(&[], &[1.0], 0.05).is_none());
        assert!(RegressionTest::run(&[1.0], &[f64::NAN], 0.05).is_none());
    }
}
