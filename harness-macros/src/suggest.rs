//! "Did you mean ...?" for misspelt keys and names.

/// The candidate closest to `word`, if it is close enough to be a typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&word, c), *c))
        .filter(|(d, c)| {
            *d <= (c.len() / 3).max(1)
                || (c.starts_with(&word) && word.len() >= 3)
                || (word.starts_with(c) && c.len() >= 3)
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "did you mean `x`? Rest" when `word` looks like a typo of a candidate,
/// else just "rest".
pub fn did_you_mean(word: &str, candidates: &[&str], rest: &str) -> String {
    match closest(word, candidates) {
        Some(c) => {
            let mut chars = rest.chars();
            let rest = match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            };
            format!("did you mean `{c}`? {rest}")
        }
        None => rest.to_string(),
    }
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &[
        "postmortem",
        "variant",
        "budget",
        "timeout",
        "seed",
        "tags",
        "requires",
    ];

    #[test]
    fn typos_find_their_key() {
        assert_eq!(closest("budgt", KEYS), Some("budget"));
        assert_eq!(closest("require", KEYS), Some("requires"));
        assert_eq!(closest("tag", KEYS), Some("tags"));
        assert_eq!(closest("postmortm", KEYS), Some("postmortem"));
        assert_eq!(closest("Timeout", KEYS), Some("timeout"));
        assert_eq!(closest("post", KEYS), Some("postmortem"));
        assert_eq!(closest("mongodb", &["docker", "mongo"]), Some("mongo"));
    }

    #[test]
    fn unrelated_words_find_nothing() {
        assert_eq!(closest("flavour", KEYS), None);
        assert_eq!(closest("x", KEYS), None);
    }

    #[test]
    fn hint_sentences() {
        assert_eq!(
            did_you_mean("tag", KEYS, "the keys are .."),
            "did you mean `tags`? The keys are .."
        );
        assert_eq!(
            did_you_mean("zzzz", KEYS, "the keys are .."),
            "the keys are .."
        );
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
    }
}
