//! The suite's JUnit XML (`target/incidents/junit.xml`), rebuilt from every
//! incident's `report.json` each time one is written, with recovery times
//! and budgets as properties. Serialized by quick-junit (nextest's JUnit
//! writer), and named as nextest names tests, so the two files agree.

use super::{Report, RunOutcome};
use quick_junit::{
    NonSuccessKind, Property, Report as JunitReport, TestCase, TestCaseStatus, TestSuite,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// Every `report.json` one level below `root`, sorted by incident.
pub fn collect(root: &Path) -> Vec<Report> {
    let mut reports: Vec<Report> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Report::read(&e.path().join("report.json")).ok())
        .collect();
    reports.sort_by(|a, b| a.incident.cmp(&b.incident));
    reports
}

/// The test suite of reports that do not record their test binary.
const UNKNOWN_BINARY: &str = "incidents";

/// One report as a testcase named as nextest names it: `name` is the
/// test's path inside its binary, `classname` the binary id.
fn testcase(r: &Report) -> TestCase {
    let not_reproduced = r.not_reproduced();
    let status = match r.outcome {
        RunOutcome::Skipped => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(r.error.as_deref().unwrap_or("skipped"));
            s
        }
        _ if !r.passed() => {
            let mut lines = r.failures();
            if let Some(e) = &r.error {
                lines.insert(0, e.clone());
            }
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(
                lines
                    .first()
                    .map(String::as_str)
                    .unwrap_or("verdict not valid"),
            );
            s.set_description(lines.join("\n"));
            s
        }
        _ => TestCaseStatus::success(),
    };
    let mut case = TestCase::new(r.test_name(), status);
    case.set_classname(binary_of(r));
    case.set_time(Duration::from_secs_f64(r.duration_secs.max(0.0)));
    let mut props = vec![
        ("postmortem", r.postmortem.clone()),
        ("variant", r.variant.to_string()),
        ("seed", r.seed.to_string()),
        ("budget_secs", format!("{:.3}", r.budget_secs)),
        ("verdict", format!("{:?}", r.verdict).to_lowercase()),
    ];
    if let Some(rec) = r.recovery_secs() {
        props.push(("recovery_secs", format!("{rec:.3}")));
    }
    if !not_reproduced.is_empty() {
        props.push(("not_reproduced", not_reproduced.join("; ")));
    }
    case.add_properties(props.into_iter().map(|(k, v)| Property::new(k, v)));
    if !not_reproduced.is_empty() {
        // Readers of the test output, not only of properties, see it.
        case.set_system_out(not_reproduced.join("\n"));
    }
    case
}

/// Renders reports as JUnit: one test suite per test binary (named by its
/// binary id, as nextest's are), one testcase per report. Text goes
/// through quick-junit, which escapes markup and drops the characters
/// XML 1.0 forbids (control characters, ANSI escapes).
pub fn render(reports: &[Report]) -> String {
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for r in reports {
        let case = testcase(r);
        let suite = suites
            .entry(binary_of(r))
            .or_insert_with(|| TestSuite::new(binary_of(r)));
        let time = suite.time.unwrap_or_default() + case.time.unwrap_or_default();
        suite.set_time(time);
        suite.add_test_case(case);
    }
    let mut report = JunitReport::new("incidents");
    let time = suites.values().filter_map(|s| s.time).sum();
    report.add_test_suites(suites.into_values());
    report.set_time(time);
    report
        .to_string()
        .expect("quick-junit serializes into a String without I/O errors")
}

/// The report's test binary, the suite it belongs to.
fn binary_of(r: &Report) -> &str {
    if r.binary_id.is_empty() {
        UNKNOWN_BINARY
    } else {
        &r.binary_id
    }
}

/// Rebuilds `root/junit.xml` from the reports under `root` (atomically).
pub fn refresh(root: &Path) -> std::io::Result<()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    std::fs::create_dir_all(root)?;
    let xml = render(&collect(root));
    let tmp = root.join(format!(".junit.{}.tmp", std::process::id()));
    std::fs::write(&tmp, xml)?;
    std::fs::rename(tmp, root.join("junit.xml"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::{Check, CheckKind, Verdict};
    use crate::spec::{IncidentSpec, Variant};

    /// A completed report of `name` in module `incidents::incidents::chat`
    /// of the suite's test binary.
    fn report(name: &str, variant: Variant, recovered: Option<f64>, lost: u64) -> Report {
        report_with_detail(
            name,
            variant,
            recovered,
            &format!("{lost} lost <writes>"),
            lost,
        )
    }

    fn report_with_detail(
        name: &str,
        variant: Variant,
        recovered: Option<f64>,
        detail: &str,
        lost: u64,
    ) -> Report {
        let mut spec = IncidentSpec::new(name, "dossier & co", variant);
        spec.module = "incidents::incidents::chat".into();
        spec.binary = "incident-suite::incidents".into();
        let mut r = Report::skipped(&spec, 7, "");
        r.outcome = RunOutcome::Completed;
        r.error = None;
        r.duration_secs = 12.5;
        let mut recovery = Check::new(
            crate::report::RECOVERY_CHECK,
            CheckKind::Requirement,
            if recovered.is_some() {
                Verdict::Valid
            } else {
                Verdict::Invalid
            },
            "recovery",
        );
        if let Some(s) = recovered {
            recovery = recovery.with_figure("recovery_secs", s);
        }
        let integrity = Check::new(
            "integrity.set",
            CheckKind::Requirement,
            if lost == 0 {
                Verdict::Valid
            } else {
                Verdict::Invalid
            },
            detail,
        );
        r.checks = vec![recovery, integrity];
        r.verdict = Report::judge(variant, &r.checks);
        r
    }

    /// The testcase element of `name`, up to its end.
    fn case<'a>(x: &'a str, name: &str) -> &'a str {
        let open = format!(r#"<testcase name="{name}""#);
        let at = x.find(&open).unwrap_or_else(|| panic!("no {open} in {x}"));
        let rest = &x[at..];
        let end = rest
            .find("</testcase>")
            .or_else(|| rest.find("/>"))
            .expect("the testcase ends");
        &rest[..end]
    }

    #[test]
    fn passes_failures_and_skips_become_testcases_with_recovery_properties() {
        let ok = report("a_after", Variant::After, Some(4.25), 0);
        let lost = report("b_after", Variant::After, Some(3.0), 2);
        let mut c = IncidentSpec::new("c_after", "p", Variant::After);
        c.module = "incidents::incidents::mongo".into();
        c.binary = "incident-suite::incidents".into();
        let mut skipped = Report::skipped(&c, 1, "no mongo image: docker pull mongo:7.0");
        skipped.duration_secs = 0.0;
        let x = render(&[ok, lost, skipped]);
        assert!(x.starts_with("<?xml"), "{x}");
        assert!(
            x.contains(r#"tests="3" skipped="1" failures="1" errors="0" time="25.000""#),
            "{x}"
        );
        assert!(
            x.contains(r#"<testcase name="incidents::chat::a_after" classname="incident-suite::incidents" time="12.500">"#),
            "named as nextest names it: {x}"
        );
        let a = case(&x, "incidents::chat::a_after");
        assert!(
            a.contains(r#"<property name="postmortem" value="dossier &amp; co"/>"#),
            "the postmortem, escaped: {a}"
        );
        assert!(a.contains(r#"<property name="recovery_secs" value="4.250"/>"#));
        assert!(a.contains(r#"<property name="budget_secs" value="90.000"/>"#));
        assert!(a.contains(r#"<property name="variant" value="after"/>"#));
        assert!(a.contains(r#"<property name="seed" value="7"/>"#));
        assert!(!a.contains("<failure"));
        let b = case(&x, "incidents::chat::b_after");
        assert!(
            b.contains(r#"<failure message="integrity.set (Invalid): 2 lost &lt;writes&gt;">"#),
            "the failing check, escaped: {b}"
        );
        assert!(
            b.contains(r#"<property name="verdict" value="invalid"/>"#),
            "{b}"
        );
        let c = case(&x, "incidents::mongo::c_after");
        assert!(
            c.contains(r#"<skipped message="no mongo image: docker pull mongo:7.0"/>"#),
            "{c}"
        );
    }

    /// A check's detail may carry what a system printed: ANSI colours, a
    /// NUL. XML 1.0 forbids those characters (even escaped), so they must
    /// not reach the file, and the file must parse back.
    #[test]
    fn control_characters_in_a_detail_still_make_well_formed_xml() {
        let detail = "2 lost \u{1b}[31m<writes>\u{1b}[0m\u{0} & a bell\u{7}\u{1b}";
        let r = report_with_detail("d_after", Variant::After, Some(1.0), detail, 2);
        let mut skipped = r.clone();
        skipped.outcome = RunOutcome::Skipped;
        skipped.incident = "e_after".into();
        skipped.test_path = "incidents::chat::e_after".into();
        skipped.error = Some("absent\u{0}: \u{8}why\u{1b}".into());
        let x = render(&[r, skipped]);
        let forbidden: Vec<char> = x
            .chars()
            .filter(|c| matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}'))
            .collect();
        assert!(
            forbidden.is_empty(),
            "forbidden characters {forbidden:?} in {x:?}"
        );
        let parsed = quick_junit::Report::deserialize_from_str(&x)
            .unwrap_or_else(|e| panic!("not well-formed ({e}): {x}"));
        assert_eq!((parsed.tests, parsed.failures, parsed.skipped), (2, 1, 1));
        let cases = &parsed.test_suites[0].test_cases;
        match &cases[0].status {
            TestCaseStatus::NonSuccess { message, .. } => assert_eq!(
                message.as_deref(),
                Some("integrity.set (Invalid): 2 lost <writes> & a bell"),
                "the text survives, only the forbidden characters go"
            ),
            other => panic!("expected a failure: {other:?}"),
        }
        match &cases[1].status {
            TestCaseStatus::Skipped { message, .. } => {
                assert_eq!(message.as_deref(), Some("absent: why"))
            }
            other => panic!("expected a skip: {other:?}"),
        }
    }

    /// nextest names a testcase by the test's path in its binary, with the
    /// binary id as classname and suite; reports from before those were
    /// recorded keep their incident name in an `incidents` suite.
    #[test]
    fn testcases_are_named_as_nextest_names_them_and_old_reports_still_render() {
        let new = report("f_after", Variant::After, Some(1.0), 0);
        let mut json =
            serde_json::to_value(report("g_after", Variant::After, Some(1.0), 0)).unwrap();
        let obj = json.as_object_mut().unwrap();
        obj.remove("test_path");
        obj.remove("binary_id");
        let old: Report = serde_json::from_value(json).expect("an old report.json reads");
        assert_eq!(old.test_name(), "g_after");
        let parsed = quick_junit::Report::deserialize_from_str(&render(&[new, old])).unwrap();
        /// A suite's name and its testcases' (name, classname).
        type Named<'a> = (&'a str, Vec<(&'a str, Option<&'a str>)>);
        let suites: Vec<Named> = parsed
            .test_suites
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.test_cases
                        .iter()
                        .map(|c| (c.name.as_str(), c.classname.as_deref()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            suites,
            vec![
                (
                    "incident-suite::incidents",
                    vec![(
                        "incidents::chat::f_after",
                        Some("incident-suite::incidents")
                    )]
                ),
                ("incidents", vec![("g_after", Some("incidents"))]),
            ]
        );
    }

    /// An incident passing with a cause not reproduced is a passing
    /// testcase that names the cause, its ratio and what it would need.
    #[test]
    fn a_cause_not_reproduced_is_named_in_a_passing_testcase() {
        use crate::checker::UnknownPolicy;
        let mut r = report("r_before", Variant::Before, None, 0);
        r.checks = crate::verdict::tests::reproduced_and_not(UnknownPolicy::Pass).to_vec();
        r.verdict = Report::judge(Variant::Before, &r.checks);
        let x = render(&[r]);
        assert!(x.contains(r#"failures="0""#), "{x}");
        assert!(
            x.contains(r#"<property name="verdict" value="unknown"/>"#),
            "{x}"
        );
        assert!(x.contains(r#"<property name="not_reproduced" value="streaming.contention: streaming contention not reproduced at this scale: KV write p50 streaming / blocking x1.04"#), "{x}");
        assert!(
            x.contains("<system-out>") && x.contains("128-core servers"),
            "{x}"
        );
    }

    #[test]
    fn refresh_collects_every_report_below_the_root() {
        let root = std::env::temp_dir().join(format!("junit-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (name, lost) in [("z_after", 1), ("a_after", 0)] {
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let r = report(name, Variant::After, Some(1.0), lost);
            std::fs::write(dir.join("report.json"), serde_json::to_string(&r).unwrap()).unwrap();
        }
        refresh(&root).unwrap();
        let x = std::fs::read_to_string(root.join("junit.xml")).unwrap();
        let _ = std::fs::remove_dir_all(&root);
        assert!(x.contains(r#"tests="2" skipped="0" failures="1""#), "{x}");
        assert!(
            x.find("a_after").unwrap() < x.find("z_after").unwrap(),
            "sorted by incident"
        );
    }
}
