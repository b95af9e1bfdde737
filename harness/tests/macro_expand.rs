//! `#[incident]` on real functions: the generated `#[test]`s run through
//! the runner, and their bodies check the spec the attribute built. Without
//! Docker they skip (the runner prints why), which still proves the
//! expansion compiles and type-checks against the runner's signature.

use harness::prelude::*;

/// Every key given: the lab's spec holds exactly what the attribute says.
#[incident(postmortem = "macro-expand-all-keys", variant = after, budget = "1m30s",
           timeout = "2m", seed = 42, tags = [attribute, "expansion"], requires = [base],
           always = [integrity])]
async fn every_key_reaches_the_spec(lab: &mut Lab) -> Outcome {
    let spec = lab.spec().clone();
    assert_eq!(spec.name, "every_key_reaches_the_spec");
    assert_eq!(spec.module, module_path!());
    // Named as libtest and nextest name it: path in the binary, binary id.
    assert_eq!(spec.test_path(), "every_key_reaches_the_spec");
    assert_eq!(spec.binary, "harness::macro_expand");
    assert_eq!(spec.postmortem, "macro-expand-all-keys");
    assert_eq!(spec.variant, Variant::After);
    assert_eq!(spec.budget, Duration::from_secs(90));
    assert_eq!(spec.timeout, Duration::from_secs(120));
    assert_eq!(spec.seed, Some(42));
    assert_eq!(lab.seed(), 42);
    assert_eq!(
        spec.tags,
        vec!["attribute".to_string(), "expansion".to_string()]
    );
    assert_eq!(spec.requires, vec![Requirement::Docker, Requirement::Base]);
    assert_eq!(spec.always, vec!["integrity".to_string()]);
    // The lab records a listed requirement as an always-check.
    lab.check(checker::Check::requirement(
        "integrity.kv",
        true,
        "none lost",
    ));
    let kinds: Vec<_> = lab
        .checks()
        .iter()
        .map(|c| (c.name.clone(), c.kind))
        .collect();
    assert_eq!(
        kinds,
        [("integrity.kv".to_string(), checker::CheckKind::Always)]
    );
    lab.check(checker::Check::requirement(
        "spec.from_attribute",
        true,
        "the attribute's values reached the lab",
    ));
    Ok(())
}

/// Defaults: timeout 6 minutes, no seed, no tags, only the implied
/// requirements; fully qualified parameter and return types are accepted.
#[incident(postmortem = "macro-expand-defaults", variant = before, budget = "250ms")]
pub async fn defaults_reach_the_spec(lab: &mut harness::Lab) -> harness::Outcome {
    let spec = lab.spec().clone();
    assert_eq!(spec.variant, Variant::Before);
    assert_eq!(spec.budget, Duration::from_millis(250));
    assert_eq!(spec.timeout, Duration::from_secs(360));
    assert_eq!(spec.seed, None);
    assert!(spec.tags.is_empty());
    assert_eq!(spec.requires, vec![Requirement::Docker, Requirement::Base]);
    assert!(spec.always.is_empty());
    lab.check(checker::Check::signature(
        "spec.defaults",
        true,
        "defaults applied",
    ));
    Ok(())
}
