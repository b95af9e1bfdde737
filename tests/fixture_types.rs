//! The suite crate depends on `harness`, `fixtures` and `scenarios` only:
//! every type the chat fixture hands out or takes must be nameable through
//! `fixtures::chat`, or a user's own incident needs `gateway` added by hand
//! (issue 17). No Docker: this builds the types and runs what is pure.

use fixtures::chat::{
    BadSimConfig, ChatGatewayCluster, ClientPolicy, Delay, Jitter, LinkStats, Load, NodeMetrics,
    ReconnectPolicy, RetryCause, RetryContext, RouterMetrics, SimConfig, SimHistory, SimStats,
    Simulator, Strategy, Switches,
};
use std::time::Duration;

#[test]
fn the_chat_fixtures_types_are_named_through_fixtures() {
    let _cluster: ChatGatewayCluster =
        ChatGatewayCluster::nodes(2).with_switches(Switches::fixed());
    let cfg: SimConfig =
        SimConfig::new("127.0.0.1:1", 10).with_policy(ReconnectPolicy::naive().with_max_open(0));
    let refused: Option<BadSimConfig> = Simulator::try_start(cfg).err();
    assert!(
        refused.is_some_and(|e| e.to_string().contains("max_open: 0")),
        "a client policy the simulator cannot run is refused by name"
    );
    let load = Load {
        rate: 5.0,
        ..Load::default()
    };
    assert_eq!(load.rate, 5.0);
    let h = SimHistory::default();
    assert_eq!(h.audit(1.0).lost, 0, "an empty history loses nothing");
    let _: (
        Option<NodeMetrics>,
        Option<RouterMetrics>,
        Option<LinkStats>,
        Option<SimStats>,
    ) = (None, None, None, None);
    assert_ne!(Strategy::Random, Strategy::LeastLoaded);
}

/// A user's SDK, written in the suite crate with nothing but `fixtures`.
#[derive(Debug)]
struct LinearSdk;

impl ClientPolicy for LinearSdk {
    fn delay(&self, retry: RetryContext) -> Duration {
        Duration::from_millis(100) * retry.failures
    }
    fn closes_first(&self) -> bool {
        true
    }
}

#[test]
fn a_client_policy_is_implemented_and_composed_from_the_suite_crate() {
    let retry = RetryContext {
        failures: 3,
        cause: RetryCause::Connect,
        uniform: 0.5,
    };
    assert_eq!(LinearSdk.delay(retry), Duration::from_millis(300));
    assert!(SimConfig::new("127.0.0.1:1", 10)
        .with_policy(LinearSdk)
        .validate()
        .is_ok());
    let fixed_without_jitter = ReconnectPolicy::backoff()
        .with_jitter(Jitter::None)
        .with_delay(Delay::Fixed(Duration::from_secs(1)));
    assert_eq!(fixed_without_jitter.delay(retry), Duration::from_secs(1));
    assert!(fixed_without_jitter.closes_first());
}
