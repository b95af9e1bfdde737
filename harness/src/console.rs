//! What the harness says on the terminal, and the rule for skipping.
//!
//! A leaf: the runner, the report writer and tests outside `#[incident]`
//! all print skips and spreads the same way.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

/// Writes one line to the terminal even under libtest's output capture
/// (skips must be seen).
pub fn loud(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Whether the environment variable `name` is set to `1`, `true` or `yes`.
pub fn env_flag(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

/// For tests outside `#[incident]` that need Docker (they drive child
/// processes or the CLI): `true` if Docker answers; otherwise says why the
/// test skips in one line and returns `false`, or panics when
/// `INCIDENT_REQUIRE_DOCKER=1` (where Docker must be there, a skip would
/// hide a broken machine).
pub fn docker_or_skip(test: &str) -> bool {
    let up = std::process::Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !up {
        let line =
            format!("SKIPPED {test}: Docker is not running (start dockerd, or run scripts/setup)");
        if env_flag("INCIDENT_REQUIRE_DOCKER") {
            panic!("{line}; failing because INCIDENT_REQUIRE_DOCKER is set");
        }
        loud(&line);
    }
    up
}

/// The variable that names the skips a run accepts: comma-separated
/// incident names or globs (`leancloud_2015_06_*,foursquare_*`). Unset,
/// every skip is accepted; set (even empty), a skip it does not name fails.
pub const ALLOW_SKIP: &str = "INCIDENT_ALLOW_SKIP";

/// Whether the glob `pattern` matches all of `name`: `*` stands for any
/// run of characters (none included), `?` for exactly one; every other
/// character for itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with backtracking to the last `*` only.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether a skip of a test known by any of `names` is allowed by the
/// value of [`ALLOW_SKIP`] (`None`: the variable is unset, so it is).
pub fn skip_allowed(allow: Option<&str>, names: &[&str]) -> bool {
    let Some(allow) = allow else { return true };
    allow
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|p| names.iter().any(|n| glob_match(p, n)))
}

/// When [`ALLOW_SKIP`] is set and names none of `names` (the first is the
/// one the line uses): the one line saying that this skip fails and why.
pub fn skip_refused(names: &[&str], reason: &str) -> Option<String> {
    refusal(std::env::var(ALLOW_SKIP).ok().as_deref(), names, reason)
}

fn refusal(allow: Option<&str>, names: &[&str], reason: &str) -> Option<String> {
    if skip_allowed(allow, names) {
        return None;
    }
    let allowed = allow.map(str::trim).filter(|a| !a.is_empty());
    Some(format!(
        "{} skipped ({reason}), and {ALLOW_SKIP} does not name it (it allows: {})",
        names.first().copied().unwrap_or("a test"),
        allowed.unwrap_or("no skip")
    ))
}

/// The variable that chooses how incidents show progress: `0` (none),
/// `lines` (one line per phase change) or `live` (a ticking line per
/// running incident). Unset: live where stderr is a terminal outside CI,
/// lines otherwise.
pub const PROGRESS: &str = "INCIDENT_PROGRESS";

/// How an incident's progress shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// Nothing.
    Off,
    /// One plain line per phase change (CI logs, pipes).
    Lines,
    /// An indicatif line per running incident, its elapsed time ticking,
    /// with each phase change printed above it.
    Live,
}

impl ProgressMode {
    /// The mode for a [`PROGRESS`] value, whether stderr is a terminal,
    /// and whether `CI` is set.
    pub fn choose(setting: Option<&str>, terminal: bool, ci: bool) -> ProgressMode {
        match setting.map(str::trim) {
            Some("0") | Some("off") => ProgressMode::Off,
            Some("lines") => ProgressMode::Lines,
            Some("live") => ProgressMode::Live,
            _ if terminal && !ci => ProgressMode::Live,
            _ => ProgressMode::Lines,
        }
    }

    /// The mode this process runs in.
    pub fn from_env() -> ProgressMode {
        ProgressMode::choose(
            std::env::var(PROGRESS).ok().as_deref(),
            std::io::stderr().is_terminal(),
            std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false"),
        )
    }
}

/// `[weibo_2017_after   12.3s] phase fault`: an incident's progress line.
pub fn progress_line(incident: &str, at: Duration, phase: &str) -> String {
    format!("[{incident} {:>6.1}s] phase {phase}", at.as_secs_f64())
}

/// One incident's progress on the terminal, cleared when dropped.
pub struct IncidentProgress {
    incident: String,
    mode: ProgressMode,
    bar: Option<ProgressBar>,
}

impl IncidentProgress {
    /// Starts showing `incident`'s progress in `mode`.
    pub fn start(incident: &str, mode: ProgressMode) -> IncidentProgress {
        let bar = (mode == ProgressMode::Live).then(|| {
            let style = ProgressStyle::with_template("{spinner} [{prefix} {elapsed:>4}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bar = live_lines().add(
                ProgressBar::new_spinner()
                    .with_style(style)
                    .with_prefix(incident.to_string())
                    .with_message("starting"),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        IncidentProgress {
            incident: incident.to_string(),
            mode,
            bar,
        }
    }

    /// The incident entered `phase`, `at` into the run.
    pub fn phase(&self, at: Duration, phase: &str) {
        let line = progress_line(&self.incident, at, phase);
        match (&self.bar, self.mode) {
            (Some(bar), _) => {
                bar.println(line);
                bar.set_message(format!("phase {phase}"));
            }
            (None, ProgressMode::Lines) => loud(&line),
            (None, _) => {}
        }
    }

    /// Clears the live line (also on drop).
    pub fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for IncidentProgress {
    fn drop(&mut self) {
        self.done();
    }
}

/// The live lines of every incident running in this process, stacked.
fn live_lines() -> &'static MultiProgress {
    static LINES: OnceLock<MultiProgress> = OnceLock::new();
    LINES.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_live_only_on_a_terminal_outside_ci_unless_asked() {
        use ProgressMode::*;
        assert_eq!(ProgressMode::choose(None, true, false), Live);
        assert_eq!(
            ProgressMode::choose(None, true, true),
            Lines,
            "CI logs get lines"
        );
        assert_eq!(
            ProgressMode::choose(None, false, false),
            Lines,
            "a pipe gets lines"
        );
        assert_eq!(ProgressMode::choose(Some("0"), true, false), Off);
        assert_eq!(ProgressMode::choose(Some("lines"), true, false), Lines);
        assert_eq!(ProgressMode::choose(Some("live"), false, true), Live);
        assert_eq!(ProgressMode::choose(Some("1"), false, false), Lines);
    }

    #[test]
    fn a_progress_line_names_the_incident_the_time_and_the_phase() {
        assert_eq!(
            progress_line("weibo_2017_after", Duration::from_millis(12_345), "fault"),
            "[weibo_2017_after   12.3s] phase fault"
        );
        // Off and live print nothing themselves (live goes through indicatif).
        let off = IncidentProgress::start("x", ProgressMode::Off);
        off.phase(Duration::ZERO, "fault");
        assert!(off.bar.is_none());
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_match(
            "foursquare_*",
            "foursquare_2010_hot_shard_before"
        ));
        assert!(glob_match(
            "leancloud_2015_06_*",
            "leancloud_2015_06_no_primary_after"
        ));
        assert!(!glob_match(
            "leancloud_2015_06_*",
            "leancloud_2015_08_after"
        ));
        assert!(glob_match("exact_name", "exact_name"));
        assert!(
            !glob_match("exact", "exact_name"),
            "a prefix is not a match"
        );
        assert!(!glob_match("name", "exact_name"), "nor a suffix");
        assert!(glob_match("*_after", "weibo_2017_after"));
        assert!(!glob_match("*_after", "weibo_2017_before"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("a*b", "abab"), "backtracks to the last star");
        assert!(glob_match("weibo_201?_after", "weibo_2017_after"));
        assert!(!glob_match("weibo_201?_after", "weibo_201_after"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("?", ""));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "x"));
    }

    #[test]
    fn an_unset_allowance_allows_every_skip_and_a_set_one_only_what_it_names() {
        let names = [
            "leancloud_2015_06_no_primary_after",
            "incidents::mongo::leancloud_2015_06_no_primary_after",
        ];
        assert!(skip_allowed(None, &names));
        assert!(skip_allowed(
            Some("leancloud_2015_06_*,foursquare_*"),
            &names
        ));
        assert!(skip_allowed(
            Some(" foursquare_* , leancloud_2015_06_no_primary_after "),
            &names
        ));
        assert!(
            skip_allowed(Some("incidents::mongo::*"), &names),
            "the test path counts too"
        );
        assert!(!skip_allowed(Some("foursquare_*"), &names));
        assert!(
            !skip_allowed(Some(""), &names),
            "set but empty: no skip is allowed"
        );
        assert!(!skip_allowed(Some(",,"), &names));
    }

    #[test]
    fn a_refused_skip_is_one_line_naming_the_variable() {
        let names = ["weibo_2017_after", "incidents::chat::weibo_2017_after"];
        assert_eq!(refusal(None, &names, "no image"), None);
        assert_eq!(refusal(Some("weibo_*"), &names, "no image"), None);
        assert_eq!(
            refusal(Some("foursquare_*"), &names, "image `x` is not present").as_deref(),
            Some("weibo_2017_after skipped (image `x` is not present), and INCIDENT_ALLOW_SKIP does not name it (it allows: foursquare_*)")
        );
        assert_eq!(
            refusal(Some(" "), &names, "why").as_deref(),
            Some("weibo_2017_after skipped (why), and INCIDENT_ALLOW_SKIP does not name it (it allows: no skip)")
        );
    }
}
