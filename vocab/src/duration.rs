//! The duration grammar: `"90s"`, `"6m"`, `"1m30s"`, `"250ms"`, `"2h"`
//! (one or more `<integer><unit>` pairs, units ms, s, m, h; nothing else,
//! so a typo is an error, not a zero). A refused duration says what is
//! wrong and, when there is an obvious one, what was meant.

/// Why a string is not a duration, and the corrected string when there is
/// an obvious one (`"90"` -> `"90s"`, `"5min"` -> `"5m"`).
#[derive(Debug, PartialEq, Eq)]
pub struct DurationError {
    /// What is wrong, e.g. "`90` has no unit".
    pub problem: String,
    /// The duration the user most likely meant.
    pub fix: Option<String>,
}

impl DurationError {
    fn new(problem: String) -> Self {
        DurationError { problem, fix: None }
    }
}

/// The grammar's unit for a unit written out in words (`min`, `secs`).
fn unit_meant(word: &str) -> Option<&'static str> {
    match word.to_ascii_lowercase().as_str() {
        "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => Some("ms"),
        "sec" | "secs" | "second" | "seconds" => Some("s"),
        "min" | "mins" | "minute" | "minutes" => Some("m"),
        "hr" | "hrs" | "hour" | "hours" => Some("h"),
        "ms" => Some("ms"),
        "s" => Some("s"),
        "m" => Some("m"),
        "h" => Some("h"),
        _ => None,
    }
}

/// `"1.5m"` -> `"1m30s"`: a single decimal number with a unit, rewritten
/// in whole units when it comes out exact in milliseconds.
fn fraction_fix(text: &str) -> Option<String> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let (whole, frac) = number.split_once(['.', ','])?;
    let scale: u64 = match unit_meant(unit)? {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        _ => 3_600_000,
    };
    if frac.is_empty() || frac.len() > 6 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac_value: u64 = frac.parse().ok()?;
    let denominator = 10u64.pow(frac.len() as u32);
    let frac_ms = frac_value.checked_mul(scale)?;
    if frac_ms % denominator != 0 {
        return None;
    }
    let ms = whole
        .checked_mul(scale)?
        .checked_add(frac_ms / denominator)?;
    (ms > 0).then(|| format_millis(ms))
}

/// Parses a duration into milliseconds, or says what is wrong.
pub fn parse_millis(text: &str) -> Result<u64, DurationError> {
    if text.trim().is_empty() {
        return Err(DurationError::new("the duration is empty".into()));
    }
    if text.contains(char::is_whitespace) {
        let fix: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let fix = parse_millis(&fix).ok().map(|_| fix);
        return Err(DurationError {
            problem: "it contains spaces".to_string(),
            fix,
        });
    }
    let mut total: u64 = 0;
    let mut rest = text;
    // The text with every recognisable unit corrected, offered as the fix.
    let mut corrected = String::new();
    let mut first_problem: Option<String> = None;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(DurationError::new(format!(
                "expected a whole number at `{rest}`"
            )));
        }
        let number = &rest[..digits];
        let n: u64 = number
            .parse()
            .map_err(|_| DurationError::new("the number is too large".to_string()))?;
        rest = &rest[digits..];
        if rest.starts_with(['.', ',']) {
            return Err(DurationError {
                problem: "it has a fraction, but durations take whole numbers".to_string(),
                fix: fraction_fix(text),
            });
        }
        let unit_len = rest.chars().take_while(|c| c.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "" if rest.is_empty() => {
                return Err(DurationError {
                    problem: format!("no unit after `{number}`"),
                    fix: Some(format!("{corrected}{number}s")),
                })
            }
            "" => return Err(DurationError::new(format!("no unit after `{number}`"))),
            other => {
                let meant = unit_meant(other);
                first_problem.get_or_insert_with(|| format!("unknown unit `{other}`"));
                match meant {
                    Some(u) => {
                        corrected.push_str(number);
                        corrected.push_str(u);
                        continue;
                    }
                    None => return Err(DurationError::new(format!("unknown unit `{other}`"))),
                }
            }
        };
        corrected.push_str(number);
        corrected.push_str(unit);
        total = n
            .checked_mul(scale)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| DurationError::new("the duration is too long".to_string()))?;
    }
    if let Some(problem) = first_problem {
        return Err(DurationError {
            problem,
            fix: Some(corrected),
        });
    }
    Ok(total)
}

/// Formats milliseconds the way [`parse_millis`] reads them, for messages.
pub fn format_millis(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let mut secs = ms / 1000;
    let mut out = String::new();
    for (unit, size) in [("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(parse_millis("90s"), Ok(90_000));
        assert_eq!(parse_millis("6m"), Ok(360_000));
        assert_eq!(parse_millis("1m30s"), Ok(90_000));
        assert_eq!(parse_millis("250ms"), Ok(250));
        assert_eq!(parse_millis("2h"), Ok(7_200_000));
        assert_eq!(parse_millis("1h1m1s1ms"), Ok(3_661_001));
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in [
            "",
            "90",
            "s",
            "9x",
            "1.5s",
            "-1s",
            "1 m",
            " 1m",
            "90sec",
            "1m30",
            "99999999999999999999s",
            "18446744073709551615h",
        ] {
            assert!(parse_millis(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn errors_name_the_problem_and_the_likely_fix() {
        let e = parse_millis("90").unwrap_err();
        assert_eq!(e.problem, "no unit after `90`");
        assert_eq!(e.fix.as_deref(), Some("90s"));
        let e = parse_millis("5min").unwrap_err();
        assert_eq!(e.problem, "unknown unit `min`");
        assert_eq!(e.fix.as_deref(), Some("5m"));
        assert_eq!(
            parse_millis("1min30secs").unwrap_err().fix.as_deref(),
            Some("1m30s")
        );
        assert_eq!(
            parse_millis("1m30").unwrap_err().fix.as_deref(),
            Some("1m30s")
        );
        assert_eq!(parse_millis("1 m").unwrap_err().fix.as_deref(), Some("1m"));
        assert_eq!(parse_millis("9x").unwrap_err().fix, None);
        assert!(parse_millis("1.5s")
            .unwrap_err()
            .problem
            .contains("whole numbers"));
        assert!(parse_millis("s")
            .unwrap_err()
            .problem
            .contains("expected a whole number"));
    }

    #[test]
    fn format_round_trips() {
        for s in ["90s", "6m", "1m30s", "250ms", "2h", "1h1m1s"] {
            let ms = parse_millis(s).unwrap();
            assert_eq!(parse_millis(&format_millis(ms)), Ok(ms));
        }
        assert_eq!(format_millis(90_000), "1m30s");
    }
}
