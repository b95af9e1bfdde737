//! The suite's JUnit XML (`target/incidents/junit.xml`), rebuilt from every
//! incident's `report.json` each time one is written, with recovery times
//! and budgets as properties.

use super::{Report, RunOutcome};
use std::path::Path;
use std::sync::Mutex;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

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

/// Renders reports as one JUnit test suite.
pub fn render(reports: &[Report]) -> String {
    let failures = reports
        .iter()
        .filter(|r| r.outcome != RunOutcome::Skipped && !r.passed())
        .count();
    let skipped = reports
        .iter()
        .filter(|r| r.outcome == RunOutcome::Skipped)
        .count();
    let time: f64 = reports.iter().map(|r| r.duration_secs).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"incidents\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{time:.3}\">\n",
        reports.len()
    ));
    x.push_str(&format!(
        "  <testsuite name=\"incidents\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{time:.3}\">\n",
        reports.len()
    ));
    for r in reports {
        x.push_str(&format!(
            "    <testcase classname=\"incidents.{}\" name=\"{}\" time=\"{:.3}\">\n",
            escape(&r.postmortem),
            escape(&r.incident),
            r.duration_secs
        ));
        x.push_str("      <properties>\n");
        let mut props = vec![
            ("variant", r.variant.to_string()),
            ("seed", r.seed.to_string()),
            ("budget_secs", format!("{:.3}", r.budget_secs)),
            ("verdict", format!("{:?}", r.verdict).to_lowercase()),
        ];
        if let Some(rec) = r.recovery_secs() {
            props.push(("recovery_secs", format!("{rec:.3}")));
        }
        let not_reproduced = r.not_reproduced();
        if !not_reproduced.is_empty() {
            props.push(("not_reproduced", not_reproduced.join("; ")));
        }
        for (k, v) in props {
            x.push_str(&format!(
                "        <property name=\"{k}\" value=\"{}\"/>\n",
                escape(&v)
            ));
        }
        x.push_str("      </properties>\n");
        match r.outcome {
            RunOutcome::Skipped => x.push_str(&format!(
                "      <skipped message=\"{}\"/>\n",
                escape(r.error.as_deref().unwrap_or("skipped"))
            )),
            _ if !r.passed() => {
                let mut lines = r.failures();
                if let Some(e) = &r.error {
                    lines.insert(0, e.clone());
                }
                x.push_str(&format!(
                    "      <failure message=\"{}\">{}</failure>\n",
                    escape(
                        lines
                            .first()
                            .map(String::as_str)
                            .unwrap_or("verdict not valid")
                    ),
                    escape(&lines.join("\n"))
                ));
            }
            _ => {}
        }
        if !not_reproduced.is_empty() {
            // Readers of the test output, not only of properties, see it.
            x.push_str(&format!(
                "      <system-out>{}</system-out>\n",
                escape(&not_reproduced.join("\n"))
            ));
        }
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
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

    fn report(name: &str, variant: Variant, recovered: Option<f64>, lost: u64) -> Report {
        let spec = IncidentSpec::new(name, "dossier & co", variant);
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
            format!("{lost} lost <writes>"),
        );
        r.checks = vec![recovery, integrity];
        r.verdict = Report::judge(variant, &r.checks);
        r
    }

    #[test]
    fn passes_failures_and_skips_become_testcases_with_recovery_properties() {
        let ok = report("a_after", Variant::After, Some(4.25), 0);
        let lost = report("b_after", Variant::After, Some(3.0), 2);
        let mut skipped = Report::skipped(
            &IncidentSpec::new("c_after", "p", Variant::After),
            1,
            "no mongo image: docker pull mongo:7.0",
        );
        skipped.duration_secs = 0.0;
        let x = render(&[ok, lost, skipped]);
        assert!(x.starts_with("<?xml"), "{x}");
        assert!(
            x.contains(r#"tests="3" failures="1" skipped="1" time="25.000""#),
            "{x}"
        );
        assert!(x.contains(r#"classname="incidents.dossier &amp; co" name="a_after""#));
        assert!(x.contains(r#"<property name="recovery_secs" value="4.250"/>"#));
        assert!(x.contains(r#"<property name="budget_secs""#));
        let b = &x[x.find(r#"name="b_after""#).unwrap()..];
        let b = &b[..b.find("</testcase>").unwrap()];
        assert!(
            b.contains(r#"<failure message="integrity.set (Invalid): 2 lost &lt;writes&gt;">"#),
            "the failing check, escaped: {b}"
        );
        assert!(x.contains(r#"<skipped message="no mongo image: docker pull mongo:7.0"/>"#));
        let a = &x[x.find(r#"name="a_after""#).unwrap()..];
        assert!(!a[..a.find("</testcase>").unwrap()].contains("<failure"));
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
        assert!(x.contains(r#"tests="2" failures="1""#), "{x}");
        assert!(
            x.find("a_after").unwrap() < x.find("z_after").unwrap(),
            "sorted by incident"
        );
    }
}
