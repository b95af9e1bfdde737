//! The `#[incident]` attribute: turns an `async fn(lab: &mut Lab) -> Outcome`
//! into a plain `#[test]` run by `harness::runner::run`. Use it through
//! `harness::prelude::*` (`harness::incident`).

mod args;
mod expand;
mod signature;
mod suggest;

use proc_macro::TokenStream;

/// Turns an `async fn(lab: &mut Lab) -> Outcome` into an incident test.
///
/// ```rust,ignore
/// use harness::prelude::*;
///
/// /// The LeanCloud chat partition, with the postmortem's backoff.
/// #[incident(postmortem = "leancloud-2015-08-chat", variant = after, budget = "90s",
///            timeout = "6m", seed = 42, tags = [heavy, chat],
///            requires = [chat_gateway, toxiproxy])]
/// async fn partitioned_node_with_backoff(lab: &mut Lab) -> Outcome {
///     // start fixtures, run a workload, inject and heal faults, check ...
///     Ok(())
/// }
/// ```
///
/// The function becomes a `#[test] fn partitioned_node_with_backoff()` (its
/// doc comments, other attributes such as `#[ignore]`, and visibility are
/// kept) that runs the body on a multi-thread tokio runtime with tracing
/// initialised, in a fresh lab that is always torn down; the test fails if
/// the body returns an error, panics, runs past `timeout`, or the report's
/// verdict is not valid. See `harness::runner`.
///
/// | key          | value                                   | required | meaning |
/// |--------------|-----------------------------------------|----------|---------|
/// | `postmortem` | string: `"leancloud-2015-08-chat"`       | yes      | the postmortem dossier the incident reproduces |
/// | `variant`    | `before` or `after`                     | yes      | `before`: the system as it was, must reproduce the outage's signature; `after`: with the fixes, must recover within budget |
/// | `budget`     | duration string: `"90s"`                | yes      | the recovery budget the checkers judge against |
/// | `timeout`    | duration string: `"6m"`                 | no (`"6m"`) | hard limit: on expiry the lab is torn down and the test fails with the timeline so far; must be at least `budget` |
/// | `seed`       | integer: `42`                           | no (random) | fixes the run's randomness; the seed used is always printed and recorded |
/// | `tags`       | list of names or strings: `[heavy, chat]` | no     | free-form labels for filtering and grouping |
/// | `requires`   | list of `docker`, `base`, `toxiproxy`, `consul`, `consul_legacy`, `mongo`, `chat_gateway`, `chromium` | no | systems without which the test skips with a reason (`docker` and `base` are always implied; `INCIDENT_REQUIRE_DOCKER=1` turns skips into failures) |
/// | `always`     | list of check names or dotted prefixes: `[integrity, "availability.recovery"]` | no | requirement checks that must hold in *both* variants (`integrity` covers `integrity.kv`, `integrity.register`, ...) |
///
/// The check policy per variant. Every check a scenario records has a
/// kind: a *signature* (the outage's mark) counts only in a `before`
/// variant, a *requirement* (recovery within budget, nothing acknowledged
/// lost) only in an `after` variant, an *always* check (nothing invented)
/// in both. So by default a `before` variant that loses data still passes
/// if it reproduced its signature. Where the postmortem says no data was
/// lost, write `always = [integrity]`: those requirements then count in the
/// `before` variant too, and the snapshot shows them as `kind: always`.
/// `requires` is per test function, so each variant lists exactly the
/// systems it runs (a `before` on `consul_legacy`, its `after` on `consul`).
///
/// Durations are one or more `<integer><unit>` pairs with units `ms`, `s`,
/// `m`, `h`: `"90s"`, `"6m"`, `"1m30s"`, `"250ms"`, `"2h"`. They are read
/// at compile time, so the values must be literals.
///
/// Misuse is a compile error pointing at the mistake and saying what to
/// write: unknown or duplicate keys, missing required keys, values of the
/// wrong kind, bad durations, a budget longer than the timeout, unknown
/// variants or requirements, a function that is not
/// `async fn name(lab: &mut Lab) -> Outcome`, or an extra `#[test]`. The
/// function is still emitted on error so editors keep resolving its body.
#[proc_macro_attribute]
pub fn incident(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::incident(args.into(), item.into()).into()
}
