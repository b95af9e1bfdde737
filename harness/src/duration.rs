//! Human durations as the `#[incident]` attribute and the CLI write them:
//! `"90s"`, `"6m"`, `"1m30s"`, `"250ms"`, `"2h"`.

use incident_vocab::duration;
use std::time::Duration;

/// Parses `"90s"`, `"6m"`, `"1m30s"`, `"250ms"` or `"2h"` into a [`Duration`]
/// (surrounding blanks ignored).
///
/// The grammar is [`incident_vocab::duration`]'s, the one `#[incident]`
/// reads: one or more `<integer><unit>` pairs with units `ms`, `s`, `m`,
/// `h`; nothing else is accepted, so a typo is an error, not a zero.
pub fn parse(text: &str) -> Result<Duration, String> {
    match duration::parse_millis(text.trim()) {
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(e) => Err(match e.fix {
            Some(fix) => format!(
                "`{text}` is not a duration: {}; did you mean \"{fix}\"?",
                e.problem
            ),
            None => format!(
                "`{text}` is not a duration: {}; write e.g. \"90s\", \"6m\" or \"1m30s\"",
                e.problem
            ),
        }),
    }
}

/// Formats a duration the way [`parse`] reads it (`"1m30s"`, `"250ms"`).
pub fn format(d: Duration) -> String {
    duration::format_millis(d.as_millis().min(u64::MAX as u128) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(parse("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("6m").unwrap(), Duration::from_secs(360));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("2h").unwrap(), Duration::from_secs(7200));
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in ["", "90", "s", "9x", "1.5s", "-1s", "1 m"] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn format_round_trips() {
        for s in ["90s", "6m", "1m30s", "250ms", "2h", "1h1m1s"] {
            let d = parse(s).unwrap();
            assert_eq!(parse(&format(d)).unwrap(), d);
        }
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
    }
}

/// Serde helpers that write a duration as fractional seconds.
pub mod serde_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes the duration as seconds (`f64`).
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    /// Reads seconds (`f64`) into a duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Ok(Duration::from_secs_f64(secs.max(0.0)))
    }
}

/// Serde helpers for `Option<Duration>` as fractional seconds.
pub mod serde_opt_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes `Some(d)` as seconds and `None` as null.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    /// Reads seconds or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let secs = Option::<f64>::deserialize(d)?;
        Ok(secs.map(|s| Duration::from_secs_f64(s.max(0.0))))
    }
}
