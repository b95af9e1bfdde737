//! How a client behaves between connections: its SDK's retry delay,
//! jitter, and whether it closes what it holds before it tries again.
//!
//! [`ClientPolicy`] is the open contract: a test file can implement it to
//! run its own SDK's behaviour against the gateway. [`ReconnectPolicy`] is
//! the stock implementation, built from separate settings, with the two
//! SDKs of the LeanCloud 2015 postmortem as presets.

use std::fmt;
use std::time::Duration;

/// Why a client is about to wait before its next attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryCause {
    /// The router refused it (admission) or could not be reached.
    Router,
    /// A connect attempt failed or timed out.
    Connect,
    /// A session it had was lost.
    SessionLost,
}

/// What a [`ClientPolicy`] knows when it picks a delay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryContext {
    /// Consecutive failures so far, at least 1 (a lost session counts 1).
    pub failures: u32,
    /// What just went wrong.
    pub cause: RetryCause,
    /// A uniform sample in `[0, 1)` from the client's own seeded
    /// generator, for jitter: runs with the same seed wait the same.
    pub uniform: f64,
}

/// A client's reconnect behaviour: implement it to run your own SDK's.
///
/// The simulator asks it how long to wait after each failure and whether
/// to close what the client holds first. An attempt that times out is
/// cancelled, and a lost session's socket closed, unless
/// [`closes_first`](ClientPolicy::closes_first) is `false`: that models an
/// SDK that leaks them, as the 2015 one did.
///
/// ```
/// use gateway::sim::{ClientPolicy, RetryContext, SimConfig};
/// use std::time::Duration;
///
/// /// Our SDK: one second, then two, then every five, always closing first.
/// #[derive(Debug)]
/// struct Steps;
/// impl ClientPolicy for Steps {
///     fn delay(&self, retry: RetryContext) -> Duration {
///         Duration::from_secs([1, 2, 5][(retry.failures as usize - 1).min(2)])
///     }
///     fn closes_first(&self) -> bool {
///         true
///     }
/// }
/// let cfg = SimConfig::new("127.0.0.1:8080", 100).with_policy(Steps);
/// assert!(cfg.validate().is_ok());
/// ```
pub trait ClientPolicy: fmt::Debug + Send + Sync + 'static {
    /// The wait before the next attempt.
    fn delay(&self, retry: RetryContext) -> Duration;
    /// Whether the client closes a lost session's socket and cancels an
    /// attempt that timed out before it retries. `false` leaves both open.
    fn closes_first(&self) -> bool;
    /// Sockets a client may hold at once when it does not close first; the
    /// oldest is dropped beyond it (bounds the simulator, as the device's
    /// own limits bounded the SDK). Ignored when it closes first.
    fn max_open(&self) -> usize {
        1
    }
    /// Refuses settings that would crash or spin the simulator: the
    /// message names the setting and a value that works.
    fn validate(&self) -> Result<(), String> {
        if self.max_open() == 0 {
            return Err(format!(
                "{self:?}: max_open 0 leaves a client no socket to connect with: at least 1"
            ));
        }
        Ok(())
    }
}

/// The schedule of waits between attempts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Delay {
    /// The same wait every time.
    Fixed(Duration),
    /// `base` doubled per consecutive failure, up to `max`.
    Exponential {
        /// First delay (after one failure: twice this).
        base: Duration,
        /// Largest delay.
        max: Duration,
    },
}

/// How the scheduled wait is randomised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the scheduled wait: every client that failed together
    /// retries together.
    None,
    /// Uniform between zero and the scheduled wait ("full jitter").
    Full,
}

/// The stock [`ClientPolicy`], one setting per behaviour.
///
/// [`naive`](ReconnectPolicy::naive) and [`backoff`](ReconnectPolicy::backoff)
/// are the two SDKs of the LeanCloud 2015 postmortem; change one setting
/// with the `with_*` methods to ask what that setting alone buys.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReconnectPolicy {
    /// The schedule of waits.
    pub delay: Delay,
    /// How each wait is randomised.
    pub jitter: Jitter,
    /// The shortest wait after jitter.
    pub floor: Duration,
    /// The shortest wait after the router refused or failed.
    pub router_floor: Duration,
    /// Close a lost session and cancel a timed-out attempt before retrying.
    pub close_first: bool,
    /// Sockets a client may hold at once when it does not close first.
    pub max_open: usize,
}

impl ReconnectPolicy {
    /// The 2015 SDK: a fixed 250 ms retry (500 ms after the router),
    /// no jitter, nothing closed, up to 6 sockets per client.
    pub fn naive() -> Self {
        ReconnectPolicy {
            delay: Delay::Fixed(Duration::from_millis(250)),
            jitter: Jitter::None,
            floor: Duration::ZERO,
            router_floor: Duration::from_millis(500),
            close_first: false,
            max_open: 6,
        }
    }

    /// The fixed SDK: close first, then a full-jitter exponential backoff
    /// from 250 ms up to 8 s (at least 20 ms).
    pub fn backoff() -> Self {
        ReconnectPolicy {
            delay: Delay::Exponential {
                base: Duration::from_millis(250),
                max: Duration::from_secs(8),
            },
            jitter: Jitter::Full,
            floor: Duration::from_millis(20),
            router_floor: Duration::ZERO,
            close_first: true,
            max_open: 1,
        }
    }

    /// With this schedule of waits.
    pub fn with_delay(mut self, delay: Delay) -> Self {
        self.delay = delay;
        self
    }
    /// With this jitter.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }
    /// With this shortest wait after jitter.
    pub fn with_floor(mut self, floor: Duration) -> Self {
        self.floor = floor;
        self
    }
    /// With this shortest wait after the router refused or failed.
    pub fn with_router_floor(mut self, floor: Duration) -> Self {
        self.router_floor = floor;
        self
    }
    /// Closing first, or leaving sessions and attempts open.
    pub fn with_close_first(mut self, close_first: bool) -> Self {
        self.close_first = close_first;
        self
    }
    /// With at most `n` sockets per client when not closing first.
    pub fn with_max_open(mut self, n: usize) -> Self {
        self.max_open = n;
        self
    }
}

impl ClientPolicy for ReconnectPolicy {
    fn delay(&self, retry: RetryContext) -> Duration {
        let scheduled = match self.delay {
            Delay::Fixed(d) => d,
            Delay::Exponential { base, max } => {
                base.saturating_mul(1u32 << retry.failures.min(16)).min(max)
            }
        };
        let jittered = match self.jitter {
            Jitter::None => scheduled,
            Jitter::Full => scheduled.mul_f64(retry.uniform.clamp(0.0, 1.0)),
        };
        let floor = match retry.cause {
            RetryCause::Router => self.floor.max(self.router_floor),
            _ => self.floor,
        };
        jittered.max(floor)
    }

    fn closes_first(&self) -> bool {
        self.close_first
    }

    fn max_open(&self) -> usize {
        self.max_open
    }

    fn validate(&self) -> Result<(), String> {
        if self.max_open == 0 {
            return Err("ReconnectPolicy max_open: 0 leaves a client no socket to connect with: with_max_open(1) at least (the 2015 SDK: 6)".into());
        }
        let spins = |d: Duration| d.is_zero() && self.floor.is_zero();
        match self.delay {
            Delay::Fixed(d) if spins(d) => Err("ReconnectPolicy Delay::Fixed(0) with no floor retries in a busy loop: give it a delay (the 2015 SDK: 250 ms)".into()),
            Delay::Exponential { base, .. } if spins(base) => Err("ReconnectPolicy Delay::Exponential { base: 0 } never backs off: at least 1 ms (the fixed SDK: 250 ms)".into()),
            Delay::Exponential { base, max } if base > max => Err(format!("ReconnectPolicy Delay::Exponential {{ base: {base:?}, max: {max:?} }}: max is the largest delay, at least base")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(failures: u32, cause: RetryCause, uniform: f64) -> RetryContext {
        RetryContext {
            failures,
            cause,
            uniform,
        }
    }

    #[test]
    fn the_presets_wait_as_the_two_sdks_did() {
        let naive = ReconnectPolicy::naive();
        assert_eq!(
            naive.delay(ctx(3, RetryCause::Connect, 0.1)),
            Duration::from_millis(250)
        );
        assert_eq!(
            naive.delay(ctx(1, RetryCause::Router, 0.9)),
            Duration::from_millis(500)
        );
        assert!(!naive.closes_first());
        let backoff = ReconnectPolicy::backoff();
        // 250 ms doubled per failure, capped at 8 s, times the sample.
        assert_eq!(
            backoff.delay(ctx(1, RetryCause::Connect, 0.5)),
            Duration::from_millis(250)
        );
        assert_eq!(
            backoff.delay(ctx(9, RetryCause::Connect, 0.5)),
            Duration::from_secs(4)
        );
        assert_eq!(
            backoff.delay(ctx(2, RetryCause::Router, 0.0)),
            Duration::from_millis(20)
        );
        assert!(backoff.closes_first());
    }

    #[test]
    fn each_setting_changes_only_its_own_behaviour() {
        let no_jitter = ReconnectPolicy::backoff().with_jitter(Jitter::None);
        assert_eq!(
            no_jitter.delay(ctx(1, RetryCause::Connect, 0.0)),
            Duration::from_millis(500)
        );
        assert!(no_jitter.closes_first(), "jitter is not closing");
        let leaks = ReconnectPolicy::backoff()
            .with_close_first(false)
            .with_max_open(3);
        assert_eq!(
            leaks.delay(ctx(1, RetryCause::Connect, 0.5)),
            Duration::from_millis(250)
        );
        assert_eq!((leaks.closes_first(), leaks.max_open()), (false, 3));
    }

    #[test]
    fn settings_that_would_spin_or_starve_are_refused_with_what_to_set() {
        let refused = |p: ReconnectPolicy, says: &str| {
            let e = p.validate().expect_err(says);
            assert!(e.contains(says), "{e}");
        };
        refused(
            ReconnectPolicy::naive().with_max_open(0),
            "with_max_open(1)",
        );
        refused(
            ReconnectPolicy::naive().with_delay(Delay::Fixed(Duration::ZERO)),
            "busy loop",
        );
        refused(
            ReconnectPolicy::backoff()
                .with_floor(Duration::ZERO)
                .with_delay(Delay::Exponential {
                    base: Duration::ZERO,
                    max: Duration::from_secs(1),
                }),
            "never backs off",
        );
        refused(
            ReconnectPolicy::backoff().with_delay(Delay::Exponential {
                base: Duration::from_secs(2),
                max: Duration::from_secs(1),
            }),
            "at least base",
        );
        // A zero delay is fine when a floor keeps it off the busy loop.
        assert!(ReconnectPolicy::naive()
            .with_delay(Delay::Fixed(Duration::ZERO))
            .with_floor(Duration::from_millis(10))
            .validate()
            .is_ok());
    }
}
