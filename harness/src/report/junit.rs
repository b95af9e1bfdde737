//! The suite's JUnit XML (`target/incidents/junit.xml`), rebuilt from every
//! incident's `report.json` each time one is written, with recovery times
//! and budgets as properties.

use super::{Report, RunOutcome};
use crate::checker::Verdict;
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
        .filter(|r| r.outcome != RunOutcome::Skipped && r.verdict != Verdict::Valid)
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
            _ if r.verdict != Verdict::Valid => {
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
