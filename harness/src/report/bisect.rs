//! What `incident bisect` found: along an ordered list of versions, the
//! first one where the incident's signature appears or disappears, in
//! log2 steps; with every step taken (which version, why that one, what
//! it showed, what its build cost) and the conclusion. Written beside the
//! incident's report as `bisect.{md,json}`.
//!
//! One concept, one file: the search ([`Search`], a pure state machine:
//! it says which version to test next and takes each outcome), the record
//! it makes ([`Bisection`]) and its markdown view.
//!
//! The search tests both ends first: they must differ (a signature
//! present at one end and absent at the other), else there is no
//! transition to find. Then it halves the range between the last version
//! known like the first end and the first known like the last end. A
//! version that cannot say (its build failed, the run crashed, the
//! signature check was undecided) is skipped like `git bisect skip`: the
//! next pick is the untested version nearest the middle, and when only
//! skipped versions are left between the two, the conclusion says the
//! transition is somewhere among them instead of guessing.

use super::Report;
use crate::verdict::{CheckKind, Verdict};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The bisection's table, beside the incident's report (linked from the
/// HTML index).
pub const BISECT_MD: &str = "bisect.md";
/// The bisection's record, as [`Bisection`] serialises it.
pub const BISECT_JSON: &str = "bisect.json";

/// What one version's run showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Seen {
    /// The outage's signature showed.
    Present,
    /// It did not.
    Absent,
    /// Neither could be said: the build failed, the run left no report or
    /// did not complete, or the signature check was undecided.
    Inconclusive,
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Seen::Present => "present",
            Seen::Absent => "absent",
            Seen::Inconclusive => "inconclusive",
        })
    }
}

impl Seen {
    /// What a run's report says of the signature, with a one-line reason.
    /// `signature` names one signature check; `None` takes every one:
    /// present when any showed, absent when all were decided and none
    /// did, inconclusive otherwise (and when the run did not complete).
    pub fn from_report(report: &Report, signature: Option<&str>) -> (Seen, String) {
        if report.outcome != super::RunOutcome::Completed {
            let why = report.error.as_deref().unwrap_or("no detail");
            let why: String = why.lines().next().unwrap_or("").chars().take(160).collect();
            return (
                Seen::Inconclusive,
                format!("the run did not complete ({:?}): {why}", report.outcome),
            );
        }
        let checks: Vec<_> = report
            .checks
            .iter()
            .filter(|c| c.kind == CheckKind::Signature)
            .filter(|c| signature.is_none_or(|s| c.name == s))
            .collect();
        if checks.is_empty() {
            return (
                Seen::Inconclusive,
                match signature {
                    Some(s) => format!("the run recorded no signature check `{s}`"),
                    None => "the run recorded no signature check".into(),
                },
            );
        }
        let named = |v: Verdict| -> Vec<&str> {
            checks
                .iter()
                .filter(|c| c.verdict == v)
                .map(|c| c.name.as_str())
                .collect()
        };
        let (valid, unknown) = (named(Verdict::Valid), named(Verdict::Unknown));
        if !valid.is_empty() {
            (Seen::Present, format!("showed: {}", valid.join(", ")))
        } else if !unknown.is_empty() {
            (
                Seen::Inconclusive,
                format!("undecided: {}", unknown.join(", ")),
            )
        } else {
            (
                Seen::Absent,
                format!("did not show: {}", named(Verdict::Invalid).join(", ")),
            )
        }
    }
}

/// What the search wants next.
#[derive(Clone, Debug, PartialEq)]
pub enum Next {
    /// Build and run this version (its index in the list), for this reason.
    Test {
        /// Index into the versions.
        index: usize,
        /// Why this one (`good end`, `midpoint of 1.14.0..1.18.2`, ..).
        why: String,
    },
    /// Nothing left to test.
    Done(Conclusion),
}

/// How a bisection ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Conclusion {
    /// Pinned: `last` is the newest version like the good end, `first` the
    /// oldest like the bad end, and they are neighbours in the list.
    Transition {
        /// The last version that showed `from`.
        last: String,
        /// The first version that showed `to`.
        first: String,
        /// What the good end showed.
        from: Seen,
        /// What the bad end showed.
        to: Seen,
    },
    /// Narrowed, not pinned: between `last` and `first` only versions
    /// that could not say are left.
    Unpinned {
        /// The newest version known to show `from`.
        last: String,
        /// The oldest version known to show `to`.
        first: String,
        /// The versions between them, all skipped.
        skipped: Vec<String>,
        /// What the good end showed.
        from: Seen,
        /// What the bad end showed.
        to: Seen,
    },
    /// Both ends showed the same: there is no transition in the range.
    NoTransition {
        /// What both showed.
        seen: Seen,
    },
    /// An end could not say: nothing to bisect from.
    EndInconclusive {
        /// That end's version.
        version: String,
    },
}

impl Conclusion {
    /// One sentence.
    pub fn describe(&self) -> String {
        let change = |from: Seen, to: Seen| match (from, to) {
            (Seen::Absent, Seen::Present) => "appears",
            _ => "disappears",
        };
        match self {
            Conclusion::Transition {
                last,
                first,
                from,
                to,
            } => format!(
                "the signature {} at {first}: {from} at {last}, {to} at {first}",
                change(*from, *to)
            ),
            Conclusion::Unpinned {
                last,
                first,
                skipped,
                from,
                to,
            } => format!(
                "the signature {} somewhere after {last} and at or before {first}; it cannot be pinned: {} could not be tested ({})",
                change(*from, *to),
                if skipped.len() == 1 { "the version between" } else { "the versions between" },
                skipped.join(", ")
            ),
            Conclusion::NoTransition { seen } => format!(
                "no transition: the signature is {seen} at both ends; pick a range whose ends differ"
            ),
            Conclusion::EndInconclusive { version } => format!(
                "no bisection: the end {version} could not say whether the signature shows (see its step); fix that run or pick another end"
            ),
        }
    }
}

/// The search over `versions` (oldest first; the good end is the first,
/// the bad end the last): a pure state machine.
#[derive(Clone, Debug)]
pub struct Search {
    versions: Vec<String>,
    seen: Vec<Option<Seen>>,
}

impl Search {
    /// A search over at least two versions, oldest first.
    pub fn new(versions: Vec<String>) -> Search {
        assert!(versions.len() >= 2, "a bisection needs two ends");
        let n = versions.len();
        Search {
            versions,
            seen: vec![None; n],
        }
    }

    /// The versions, oldest first.
    pub fn versions(&self) -> &[String] {
        &self.versions
    }

    /// Records what the version at `index` showed.
    pub fn record(&mut self, index: usize, seen: Seen) {
        self.seen[index] = Some(seen);
    }

    /// What to do next.
    pub fn next(&self) -> Next {
        let last = self.versions.len() - 1;
        let (from, to) = match (self.seen[0], self.seen[last]) {
            (None, _) => {
                return Next::Test {
                    index: 0,
                    why: "good end".into(),
                }
            }
            (_, None) => {
                return Next::Test {
                    index: last,
                    why: "bad end".into(),
                }
            }
            (Some(Seen::Inconclusive), _) => {
                return Next::Done(Conclusion::EndInconclusive {
                    version: self.versions[0].clone(),
                })
            }
            (_, Some(Seen::Inconclusive)) => {
                return Next::Done(Conclusion::EndInconclusive {
                    version: self.versions[last].clone(),
                })
            }
            (Some(a), Some(b)) if a == b => {
                return Next::Done(Conclusion::NoTransition { seen: a })
            }
            (Some(a), Some(b)) => (a, b),
        };
        // lo: the newest version showing `from` that has no `to` before
        // it; hi: the oldest showing `to` after lo. A version that shows
        // `from` after one showing `to` (not monotone) is outside the
        // narrowed range and does not move it back.
        let hi = (1..=last)
            .find(|&i| self.seen[i] == Some(to))
            .expect("the bad end shows `to`");
        let lo = (0..hi)
            .rev()
            .find(|&i| self.seen[i] == Some(from))
            .expect("the good end shows `from`");
        let candidates: Vec<usize> = (lo + 1..hi).filter(|&i| self.seen[i].is_none()).collect();
        if candidates.is_empty() {
            let skipped: Vec<String> = (lo + 1..hi).map(|i| self.versions[i].clone()).collect();
            let (l, f) = (self.versions[lo].clone(), self.versions[hi].clone());
            return Next::Done(if skipped.is_empty() {
                Conclusion::Transition {
                    last: l,
                    first: f,
                    from,
                    to,
                }
            } else {
                Conclusion::Unpinned {
                    last: l,
                    first: f,
                    skipped,
                    from,
                    to,
                }
            });
        }
        // The middle of lo..hi (rounded down); when it was skipped, the
        // untested version nearest it (the older on a tie).
        let middle = lo + (hi - lo) / 2;
        let index = *candidates
            .iter()
            .min_by_key(|&&i| (i.abs_diff(middle), i))
            .expect("candidates is not empty");
        let range = format!("{}..{}", self.versions[lo], self.versions[hi]);
        let why = if index == middle {
            format!("midpoint of {range}")
        } else {
            format!(
                "nearest untested to the midpoint of {range} ({} could not say)",
                self.versions[middle]
            )
        };
        Next::Test { index, why }
    }

    /// The most builds a search over `n` versions takes when every
    /// version can say: both ends, then one per halving of the `n - 1`
    /// gaps between them (`2 + ceil(log2(n - 1))`).
    pub fn worst_case_builds(n: usize) -> usize {
        if n < 2 {
            return n;
        }
        let gaps = n - 1;
        let mut halvings = 0;
        while (1usize << halvings) < gaps {
            halvings += 1;
        }
        2 + halvings
    }
}

/// What building one version cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Build {
    /// The image reference.
    pub image: String,
    /// `built`, `up-to-date` or `failed`.
    pub status: String,
    /// Wall time of the build, seconds.
    pub secs: f64,
    /// The Go toolchain and pins, and why.
    pub recipe: String,
}

/// One step: a version tested.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// 1-based.
    pub n: usize,
    /// The version.
    pub version: String,
    /// Why this version.
    pub why: String,
    /// What it showed.
    pub seen: Seen,
    /// The reason, one line (the signature checks, or why it could not say).
    pub detail: String,
    /// Its build.
    pub build: Build,
    /// Wall time of its run, seconds (0 when it did not run).
    pub run_secs: f64,
    /// Where its report is, when it wrote one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

/// A whole bisection: what `bisect.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bisection {
    /// The image bisected (`consul`).
    pub image: String,
    /// The incident run on each version.
    pub incident: String,
    /// The override variable each run set (`INCIDENT_IMAGE_CONSUL`).
    pub override_var: String,
    /// The signature check judged (`None`: every one).
    pub signature: Option<String>,
    /// The good end (older).
    pub good: String,
    /// The bad end (newer).
    pub bad: String,
    /// Every release from good to bad, oldest first.
    pub versions: Vec<String>,
    /// The most builds this range takes ([`Search::worst_case_builds`]).
    pub worst_case_builds: usize,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// How it ended (`None` while running).
    pub conclusion: Option<Conclusion>,
}

impl Bisection {
    /// Total build time, seconds.
    pub fn build_secs(&self) -> f64 {
        self.steps.iter().map(|s| s.build.secs).sum()
    }

    /// Total run time, seconds.
    pub fn run_secs(&self) -> f64 {
        self.steps.iter().map(|s| s.run_secs).sum()
    }

    /// Versions actually built now (not found up to date).
    pub fn built(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.build.status == "built")
            .count()
    }

    /// The record as markdown: the range, a row per step, the cost, the
    /// conclusion.
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "# Bisection of `{}` over {} {}..{}\n\n",
            self.incident, self.image, self.good, self.bad
        );
        md.push_str(&format!(
            "{} releases in the range; at most {} builds when every version can say (both ends, then log2 halvings). Each run set `{}`; signature judged: {}.\n\n",
            self.versions.len(),
            self.worst_case_builds,
            self.override_var,
            self.signature.as_deref().map_or("every signature check".into(), |s| format!("`{s}`"))
        ));
        md.push_str("| step | version | why | signature | detail | build | build time | run time | recipe |\n");
        md.push_str("|---|---|---|---|---|---|---|---|---|\n");
        for s in &self.steps {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {:.0}s | {:.0}s | {} |\n",
                s.n,
                s.version,
                s.why,
                s.seen,
                s.detail.replace('|', "\\|"),
                s.build.status,
                s.build.secs,
                s.run_secs,
                s.build.recipe.replace('|', "\\|"),
            ));
        }
        md.push_str(&format!(
            "\nCost: {} steps, {} versions built now, build {:.0}s, runs {:.0}s in total.\n\n",
            self.steps.len(),
            self.built(),
            self.build_secs(),
            self.run_secs()
        ));
        match &self.conclusion {
            Some(c) => md.push_str(&format!("**Conclusion:** {}.\n", c.describe())),
            None => md.push_str("**Conclusion:** none yet (the bisection did not finish).\n"),
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn versions(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("1.{i}.0")).collect()
    }

    /// Runs a search to the end with `oracle` answering for each index;
    /// returns the conclusion and the indexes tested, in order.
    fn run(n: usize, oracle: impl Fn(usize) -> Seen) -> (Conclusion, Vec<usize>) {
        let mut s = Search::new(versions(n));
        let mut tested = Vec::new();
        loop {
            match s.next() {
                Next::Test { index, .. } => {
                    assert!(!tested.contains(&index), "{index} tested twice");
                    tested.push(index);
                    s.record(index, oracle(index));
                }
                Next::Done(c) => return (c, tested),
            }
        }
    }

    #[test]
    fn the_ends_come_first_then_halvings() {
        let mut s = Search::new(versions(9));
        assert_eq!(
            s.next(),
            Next::Test {
                index: 0,
                why: "good end".into()
            }
        );
        s.record(0, Seen::Absent);
        assert_eq!(
            s.next(),
            Next::Test {
                index: 8,
                why: "bad end".into()
            }
        );
        s.record(8, Seen::Present);
        assert_eq!(
            s.next(),
            Next::Test {
                index: 4,
                why: "midpoint of 1.0.0..1.8.0".into()
            }
        );
        s.record(4, Seen::Present);
        match s.next() {
            Next::Test { index: 2, why } => assert_eq!(why, "midpoint of 1.0.0..1.4.0"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_transition_point_is_found_in_log2_builds() {
        for n in 2..=40 {
            for t in 1..n {
                // Absent before t, present from t on.
                let (c, tested) = run(n, |i| if i < t { Seen::Absent } else { Seen::Present });
                assert_eq!(
                    c,
                    Conclusion::Transition {
                        last: format!("1.{}.0", t - 1),
                        first: format!("1.{t}.0"),
                        from: Seen::Absent,
                        to: Seen::Present
                    },
                    "n={n} t={t}"
                );
                assert!(
                    tested.len() <= Search::worst_case_builds(n),
                    "n={n} t={t}: {} builds > {}",
                    tested.len(),
                    Search::worst_case_builds(n)
                );
                // And the other way round: a fix that makes it disappear.
                let (c, _) = run(n, |i| if i < t { Seen::Present } else { Seen::Absent });
                assert!(matches!(
                    c,
                    Conclusion::Transition {
                        from: Seen::Present,
                        to: Seen::Absent,
                        ..
                    }
                ));
            }
        }
    }

    #[test]
    fn worst_case_builds_is_two_ends_plus_log2_of_the_gaps() {
        assert_eq!(Search::worst_case_builds(2), 2);
        assert_eq!(Search::worst_case_builds(3), 3);
        assert_eq!(Search::worst_case_builds(13), 6); // the latest patch of each minor 1.10..1.22
        assert_eq!(Search::worst_case_builds(96), 9); // every release 1.10.12..1.22.6
        assert_eq!(Search::worst_case_builds(109), 9);
    }

    #[test]
    fn same_ends_or_an_undecided_end_stop_before_any_midpoint() {
        let (c, tested) = run(10, |_| Seen::Present);
        assert_eq!(
            c,
            Conclusion::NoTransition {
                seen: Seen::Present
            }
        );
        assert_eq!(tested, [0, 9]);
        assert!(c.describe().contains("pick a range whose ends differ"));
        let (c, tested) = run(10, |i| {
            if i == 0 {
                Seen::Inconclusive
            } else {
                Seen::Present
            }
        });
        assert_eq!(
            c,
            Conclusion::EndInconclusive {
                version: "1.0.0".into()
            }
        );
        assert_eq!(tested, [0, 9], "both ends are tested, then it stops");
        let (c, _) = run(10, |i| {
            if i == 9 {
                Seen::Inconclusive
            } else {
                Seen::Absent
            }
        });
        assert_eq!(
            c,
            Conclusion::EndInconclusive {
                version: "1.9.0".into()
            }
        );
    }

    #[test]
    fn a_skipped_midpoint_moves_to_its_nearest_untested_neighbour() {
        // 0..=8, transition at 6, version 4 (the first midpoint) cannot build.
        let oracle = |i: usize| match i {
            4 => Seen::Inconclusive,
            i if i < 6 => Seen::Absent,
            _ => Seen::Present,
        };
        let mut s = Search::new(versions(9));
        for (i, seen) in [(0, oracle(0)), (8, oracle(8))] {
            s.record(i, seen);
        }
        assert!(matches!(s.next(), Next::Test { index: 4, .. }));
        s.record(4, oracle(4));
        match s.next() {
            Next::Test { index, why } => {
                assert_eq!(index, 3, "nearest to 4, the older on a tie");
                assert!(why.contains("1.4.0 could not say"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        let (c, _) = run(9, oracle);
        assert_eq!(
            c,
            Conclusion::Transition {
                last: "1.5.0".into(),
                first: "1.6.0".into(),
                from: Seen::Absent,
                to: Seen::Present
            }
        );
    }

    #[test]
    fn a_transition_behind_skipped_versions_is_narrowed_not_guessed() {
        // Transition at 5; 4 and 5 cannot say.
        let (c, tested) = run(9, |i| match i {
            4 | 5 => Seen::Inconclusive,
            i if i < 5 => Seen::Absent,
            _ => Seen::Present,
        });
        assert_eq!(
            c,
            Conclusion::Unpinned {
                last: "1.3.0".into(),
                first: "1.6.0".into(),
                skipped: vec!["1.4.0".into(), "1.5.0".into()],
                from: Seen::Absent,
                to: Seen::Present
            }
        );
        let unique: BTreeSet<_> = tested.iter().collect();
        assert_eq!(unique.len(), tested.len());
        let d = c.describe();
        assert!(
            d.contains("cannot be pinned") && d.contains("1.4.0, 1.5.0"),
            "{d}"
        );
    }

    #[test]
    fn a_flapping_version_does_not_undo_the_narrowing() {
        // Present at 2 (a fluke), absent at 3 and 4, present from 5.
        let (c, _) = run(9, |i| match i {
            2 => Seen::Present,
            i if i < 5 => Seen::Absent,
            _ => Seen::Present,
        });
        // The midpoint 4 (absent) narrows to 4..8 and 2 is never asked.
        assert_eq!(
            c,
            Conclusion::Transition {
                last: "1.4.0".into(),
                first: "1.5.0".into(),
                from: Seen::Absent,
                to: Seen::Present
            }
        );
    }

    fn report(outcome: super::super::RunOutcome, checks: Vec<crate::verdict::Check>) -> Report {
        let spec = crate::spec::IncidentSpec::new("x_before", "x", crate::spec::Variant::Before);
        let mut r = Report::skipped(&spec, 7, "it crashed");
        r.outcome = outcome;
        r.checks = checks;
        r
    }

    #[test]
    fn a_report_says_present_absent_or_inconclusive() {
        use super::super::RunOutcome;
        use crate::verdict::Check;
        let sig = |n: &str, shown: bool| Check::signature(n, shown, "");
        let undecided = Check::new("b", CheckKind::Signature, Verdict::Unknown, "");
        let done = |checks| report(RunOutcome::Completed, checks);
        let r = done(vec![sig("a", true), sig("b", false)]);
        assert_eq!(Seen::from_report(&r, None).0, Seen::Present);
        assert_eq!(Seen::from_report(&r, Some("b")).0, Seen::Absent);
        let r = done(vec![sig("a", false), sig("b", false)]);
        let (seen, detail) = Seen::from_report(&r, None);
        assert_eq!(
            (seen, detail.as_str()),
            (Seen::Absent, "did not show: a, b")
        );
        let r = done(vec![sig("a", false), undecided.clone()]);
        assert_eq!(Seen::from_report(&r, None).0, Seen::Inconclusive);
        assert_eq!(Seen::from_report(&r, Some("a")).0, Seen::Absent);
        let (seen, detail) = Seen::from_report(&r, Some("c"));
        assert_eq!(seen, Seen::Inconclusive);
        assert!(detail.contains("no signature check `c`"), "{detail}");
        let requirement_only = done(vec![Check::new(
            "availability.recovery",
            CheckKind::Requirement,
            Verdict::Valid,
            "",
        )]);
        assert_eq!(
            Seen::from_report(&requirement_only, None).0,
            Seen::Inconclusive
        );
        let crashed = report(RunOutcome::Panicked, vec![sig("a", true)]);
        let (seen, detail) = Seen::from_report(&crashed, None);
        assert_eq!(seen, Seen::Inconclusive);
        assert!(detail.contains("did not complete"), "{detail}");
    }

    #[test]
    fn the_markdown_has_a_row_per_step_the_cost_and_the_conclusion() {
        let step = |n: usize, v: &str, why: &str, seen: Seen, status: &str, secs: f64| Step {
            n,
            version: v.into(),
            why: why.into(),
            seen,
            detail: "showed: election.deposed | x".into(),
            build: Build {
                image: format!("incident/consul:{v}"),
                status: status.into(),
                secs,
                recipe: "go1.22.12 from its go.mod's `toolchain` line".into(),
            },
            run_secs: 40.0,
            report: None,
        };
        let b = Bisection {
            image: "consul".into(),
            incident: "raft_prevote_before".into(),
            override_var: "INCIDENT_IMAGE_CONSUL".into(),
            signature: None,
            good: "1.19.2".into(),
            bad: "1.20.6".into(),
            versions: vec![
                "1.19.2".into(),
                "1.20.0".into(),
                "1.20.1".into(),
                "1.20.2".into(),
            ],
            worst_case_builds: Search::worst_case_builds(4),
            steps: vec![
                step(1, "1.19.2", "good end", Seen::Present, "built", 200.0),
                step(2, "1.20.6", "bad end", Seen::Absent, "up-to-date", 0.2),
            ],
            conclusion: Some(Conclusion::Transition {
                last: "1.20.1".into(),
                first: "1.20.2".into(),
                from: Seen::Present,
                to: Seen::Absent,
            }),
        };
        let md = b.markdown();
        for needle in [
            "over consul 1.19.2..1.20.6",
            "4 releases in the range; at most 4 builds",
            "| 1 | 1.19.2 | good end | present | showed: election.deposed \\| x | built | 200s | 40s |",
            "| 2 | 1.20.6 | bad end | absent |",
            "1 versions built now, build 200s, runs 80s",
            "the signature disappears at 1.20.2",
        ] {
            assert!(md.contains(needle), "{needle} missing in\n{md}");
        }
        let back: Bisection = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(back, b);
    }
}
