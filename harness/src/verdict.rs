//! What a checker says: a [`Check`] with its [`Verdict`], the [`CheckKind`]
//! that decides how it counts for a variant, and, for a check this machine
//! cannot decide, why ([`Inconclusive`]) and whether the incident passes
//! with it undecided ([`UnknownPolicy`]).
//!
//! A leaf: checkers produce these, the run's record stores them and the
//! report judges them, so none of those needs another to name a verdict.
//! Verdicts merge like Jepsen's `:valid?`: false beats unknown beats true.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A checker's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The property holds.
    Valid,
    /// It could not be decided (e.g. too many unknown operations).
    Unknown,
    /// The property is violated.
    Invalid,
}

impl Verdict {
    /// Jepsen's merge: invalid beats unknown beats valid.
    pub fn merge(self, other: Verdict) -> Verdict {
        self.max(other)
    }

    /// Merges many; an empty list is valid.
    pub fn all(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        verdicts.into_iter().fold(Verdict::Valid, Verdict::merge)
    }

    /// `Valid` if `ok`, else `Invalid`.
    pub fn from_bool(ok: bool) -> Verdict {
        if ok {
            Verdict::Valid
        } else {
            Verdict::Invalid
        }
    }

    /// Whether it is `Valid`.
    pub fn is_valid(self) -> bool {
        self == Verdict::Valid
    }
}

/// What a check speaks to: judged differently per variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// A property that must hold in an *after* variant (integrity, recovery
    /// within budget). In a *before* variant it is reported, not required.
    Requirement,
    /// The outage's signature: must be reproduced (valid) in a *before*
    /// variant; reported, not required, in an *after* one.
    Signature,
    /// Must hold in both variants (e.g. no value invented).
    Always,
}

/// One checker's result, as it appears in the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// A stable name, e.g. `integrity.set`, `availability.recovery`.
    pub name: String,
    /// How it counts towards the incident's verdict.
    pub kind: CheckKind,
    /// The verdict.
    pub verdict: Verdict,
    /// Counts that are stable across runs (anomalies: lost, phantom,
    /// duplicated...); they go into the snapshot.
    pub counts: BTreeMap<String, u64>,
    /// Measured, run-dependent figures (totals, times): report only.
    pub figures: BTreeMap<String, f64>,
    /// One line a person reads.
    pub detail: String,
    /// A few examples of anomalies, for debugging (report only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    /// Why it could not be decided, when it could not (verdict unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive: Option<Inconclusive>,
}

/// Whether an incident passes with a check left undecided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownPolicy {
    /// It passes, the check reported as not reproduced (e.g. a cause this
    /// machine is too small to show, while the incident's other signature
    /// reproduced).
    Pass,
    /// It fails, as any undecided check does.
    Fail,
}

/// Why a check could not be decided here, and what would decide it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inconclusive {
    /// What was not reproduced, e.g. `streaming contention`.
    pub cause: String,
    /// The measure that decides it, e.g. `KV write p50 with streaming /
    /// with blocking queries`.
    pub measure: String,
    /// Its measured value (run-dependent: report only).
    pub measured: f64,
    /// The value that would reproduce it (e.g. 3.0 for x3).
    pub needed: f64,
    /// What deciding it would take, e.g. `128-core servers (Roblox's);
    /// this machine has 2 cores`.
    pub needs: String,
    /// Whether the incident passes with it undecided.
    pub policy: UnknownPolicy,
}

impl Inconclusive {
    /// One line: `streaming contention not reproduced at this scale: ...`.
    pub fn describe(&self) -> String {
        format!(
            "{} not reproduced at this scale: {} x{:.2}, reproduced at x{}; needs {} (unknown = {})",
            self.cause,
            self.measure,
            self.measured,
            self.needed,
            self.needs,
            match self.policy {
                UnknownPolicy::Pass => "pass",
                UnknownPolicy::Fail => "fail",
            }
        )
    }
}

impl Check {
    /// A check with no counts or figures.
    pub fn new(
        name: impl Into<String>,
        kind: CheckKind,
        verdict: Verdict,
        detail: impl Into<String>,
    ) -> Self {
        Check {
            name: name.into(),
            kind,
            verdict,
            counts: BTreeMap::new(),
            figures: BTreeMap::new(),
            detail: detail.into(),
            examples: Vec::new(),
            inconclusive: None,
        }
    }

    /// A check that could not be decided at this scale: verdict unknown,
    /// its detail [`Inconclusive::describe`], figures `measured` and
    /// `needed`; `why.policy` says whether the incident passes with it.
    pub fn inconclusive(name: impl Into<String>, kind: CheckKind, why: Inconclusive) -> Self {
        let mut check = Check::new(name, kind, Verdict::Unknown, why.describe())
            .with_figure("measured", why.measured)
            .with_figure("needed", why.needed);
        check.inconclusive = Some(why);
        check
    }

    /// The kind this check counts as in an incident whose `always` list
    /// (`#[incident(always = [integrity])]`) is `always`: a requirement
    /// named there, by its name or a dotted prefix of it (`integrity`
    /// covers `integrity.kv`), becomes [`CheckKind::Always`] and must hold
    /// in the before variant too; every other check keeps its kind. The
    /// defaults: a *before* variant is judged on its signatures and
    /// always-checks, an *after* variant on its requirements and
    /// always-checks.
    pub fn kind_under(&self, always: &[String]) -> CheckKind {
        let listed = always.iter().any(|p| {
            self.name == *p
                || self
                    .name
                    .strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        });
        if listed && self.kind == CheckKind::Requirement {
            CheckKind::Always
        } else {
            self.kind
        }
    }

    /// Whether the incident passes with this check as it is: valid, or
    /// undecided with a stated [`UnknownPolicy::Pass`].
    pub fn passes(&self) -> bool {
        match self.verdict {
            Verdict::Valid => true,
            Verdict::Unknown => self
                .inconclusive
                .as_ref()
                .is_some_and(|i| i.policy == UnknownPolicy::Pass),
            Verdict::Invalid => false,
        }
    }

    /// A signature check: `reproduced` says whether the outage's signature showed.
    pub fn signature(name: impl Into<String>, reproduced: bool, detail: impl Into<String>) -> Self {
        Check::new(
            name,
            CheckKind::Signature,
            Verdict::from_bool(reproduced),
            detail,
        )
    }

    /// A requirement check.
    pub fn requirement(name: impl Into<String>, holds: bool, detail: impl Into<String>) -> Self {
        Check::new(
            name,
            CheckKind::Requirement,
            Verdict::from_bool(holds),
            detail,
        )
    }

    /// Adds a stable count.
    pub fn with_count(mut self, key: impl Into<String>, n: u64) -> Self {
        self.counts.insert(key.into(), n);
        self
    }

    /// Adds a run-dependent figure.
    pub fn with_figure(mut self, key: impl Into<String>, v: f64) -> Self {
        self.figures.insert(key.into(), v);
        self
    }

    /// Sets the kind.
    pub fn with_kind(mut self, kind: CheckKind) -> Self {
        self.kind = kind;
        self
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn always_promotes_listed_requirements_by_name_or_dotted_prefix() {
        let always = ["integrity".to_string(), "availability.recovery".to_string()];
        let kind =
            |name: &str, kind| Check::new(name, kind, Verdict::Invalid, "").kind_under(&always);
        assert_eq!(
            kind("integrity.kv", CheckKind::Requirement),
            CheckKind::Always
        );
        assert_eq!(kind("integrity", CheckKind::Requirement), CheckKind::Always);
        assert_eq!(
            kind("availability.recovery", CheckKind::Requirement),
            CheckKind::Always
        );
        // A prefix is a whole dotted word, and signatures keep their kind.
        assert_eq!(
            kind("integrityx.kv", CheckKind::Requirement),
            CheckKind::Requirement
        );
        assert_eq!(
            kind("availability", CheckKind::Requirement),
            CheckKind::Requirement
        );
        assert_eq!(
            kind("integrity.kv", CheckKind::Signature),
            CheckKind::Signature
        );
    }

    /// Roblox before on 2 cores: the freelist signature reproduced, the
    /// streaming contention not (x1.04 of the x3 it needs), with `policy`.
    pub(crate) fn reproduced_and_not(policy: UnknownPolicy) -> [Check; 2] {
        [
            Check::signature("log_store.slow_leader", true, "x6"),
            Check::inconclusive(
                "streaming.contention",
                CheckKind::Signature,
                Inconclusive {
                    cause: "streaming contention".into(),
                    measure: "KV write p50 streaming / blocking".into(),
                    measured: 1.04,
                    needed: 3.0,
                    needs: "128-core servers".into(),
                    policy,
                },
            ),
        ]
    }

    #[test]
    fn verdicts_merge_like_jepsen() {
        use Verdict::*;
        assert_eq!(Valid.merge(Unknown), Unknown);
        assert_eq!(Unknown.merge(Invalid), Invalid);
        assert_eq!(Valid.merge(Invalid), Invalid);
        assert_eq!(Verdict::all([Valid, Valid]), Valid);
        assert_eq!(Verdict::all([]), Valid);
        assert_eq!(Verdict::all([Valid, Unknown, Valid]), Unknown);
    }

    #[test]
    fn an_inconclusive_check_is_unknown_and_passes_only_if_it_says_so() {
        let [_, c] = reproduced_and_not(UnknownPolicy::Pass);
        assert_eq!(c.verdict, Verdict::Unknown);
        assert!(c.passes());
        assert!(
            c.detail.contains("x1.04") && c.detail.contains("128-core"),
            "{}",
            c.detail
        );
        assert_eq!(c.figures["measured"], 1.04);
        let [_, strict] = reproduced_and_not(UnknownPolicy::Fail);
        assert!(!strict.passes());
        // An unknown without a stated policy fails, as before.
        assert!(!Check::new("s", CheckKind::Signature, Verdict::Unknown, "").passes());
    }
}
