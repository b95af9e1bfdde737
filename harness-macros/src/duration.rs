//! The duration grammar of `harness::duration`, duplicated here because a
//! proc-macro crate cannot depend on `harness`: `"90s"`, `"6m"`, `"1m30s"`,
//! `"250ms"`, `"2h"` (one or more `<integer><unit>` pairs, units ms, s, m, h).

/// Parses a duration into milliseconds, or says what to write instead.
pub fn parse_millis(text: &str) -> Result<u64, String> {
    const UNITS: &str = "units: ms, s, m, h";
    if text.trim().is_empty() {
        return Err(format!(
            "empty duration: write e.g. \"90s\", \"6m\" or \"1m30s\" ({UNITS})"
        ));
    }
    if text.trim() != text || text.contains(char::is_whitespace) {
        return Err(format!(
            "`{text}` contains spaces: write it without them, e.g. \"1m30s\""
        ));
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(format!(
                "`{text}` is not a duration: expected a whole number at `{rest}`; write e.g. \"90s\", \"6m\" or \"1m30s\" ({UNITS})"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}`: the number is too large"))?;
        rest = &rest[digits..];
        if rest.starts_with(['.', ',']) {
            return Err(format!(
                "`{text}`: durations take whole numbers only; combine units instead, e.g. \"1m30s\" or \"1500ms\""
            ));
        }
        let unit_len = rest.chars().take_while(|c| c.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "" => {
                return Err(format!(
                    "`{text}` has no unit after `{n}`: write e.g. \"{n}s\" ({UNITS})"
                ))
            }
            other => {
                return Err(format!(
                    "`{text}`: unknown unit `{other}` ({UNITS}), e.g. \"90s\""
                ))
            }
        };
        total = n
            .checked_mul(scale)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
    }
    Ok(total)
}

/// Formats milliseconds the way [`parse_millis`] reads them, for messages.
pub fn format_millis(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    if ms % 1000 != 0 {
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
    fn errors_say_what_to_write() {
        assert!(parse_millis("90").unwrap_err().contains("\"90s\""));
        assert!(parse_millis("9x").unwrap_err().contains("unknown unit `x`"));
        assert!(parse_millis("1.5s").unwrap_err().contains("whole number"));
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
