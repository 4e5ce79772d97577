//! The life of one simulated container: running, exiting, backing off and restarting.

use std::time::Duration;

use tokio::time::Instant;

use crate::command::Behaviour;

/// The pod's `spec.restartPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    /// Parses the API's value; anything unknown is the default, `Always`.
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        }
    }

    /// Whether a container that exited with `code` is started again.
    pub fn restarts(self, code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// One finished run of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Termination {
    pub code: i32,
    pub started: Instant,
    pub finished: Instant,
}

/// The state of a container, as `containerStatuses[].state` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started yet: waiting for init containers.
    Initializing,
    /// Waiting to be restarted (`CrashLoopBackOff`) until the instant.
    BackOff {
        until: Instant,
    },
    Running {
        since: Instant,
    },
    /// Exited for good.
    Terminated(Termination),
}

/// The delay before restart number `restarts + 1`, as the kubelet's
/// back-off: immediately the first time, then 10 s doubling to 300 s.
pub fn backoff(restarts: u32) -> Duration {
    match restarts {
        0 => Duration::ZERO,
        n => Duration::from_secs(10u64 << (n - 1).min(5)).min(Duration::from_secs(300)),
    }
}

/// A simulated container.
#[derive(Debug, Clone)]
pub struct ContainerSim {
    pub name: String,
    pub image: String,
    pub behaviour: Behaviour,
    pub state: State,
    /// The previous run, shown as `lastState`.
    pub last: Option<Termination>,
    pub restarts: u32,
}

impl ContainerSim {
    /// A container that has not started.
    pub fn new(name: String, image: String, behaviour: Behaviour) -> Self {
        ContainerSim {
            name,
            image,
            behaviour,
            state: State::Initializing,
            last: None,
            restarts: 0,
        }
    }

    /// Starts the container at `at` if it has not started yet.
    pub fn start(&mut self, at: Instant) {
        if self.state == State::Initializing {
            self.state = State::Running { since: at };
        }
    }

    /// Applies every transition due by `now` under `policy`; returns the next
    /// instant something changes (an exit, a restart or readiness after `ready_delay`).
    pub fn advance(
        &mut self,
        now: Instant,
        policy: RestartPolicy,
        ready_delay: Duration,
    ) -> Option<Instant> {
        loop {
            match self.state {
                State::Initializing | State::Terminated(_) => return None,
                State::BackOff { until } if until <= now => {
                    self.restarts += 1;
                    self.state = State::Running { since: until };
                }
                State::BackOff { until } => return Some(until),
                State::Running { since } => {
                    let ready_at = since + ready_delay;
                    let ready_next = (ready_at > now).then_some(ready_at);
                    let Behaviour::Exit { code, after } = self.behaviour else {
                        return ready_next;
                    };
                    let end = since + after;
                    if end > now {
                        return Some(ready_next.map_or(end, |r| r.min(end)));
                    }
                    let t = Termination {
                        code,
                        started: since,
                        finished: end,
                    };
                    if policy.restarts(code) {
                        self.last = Some(t);
                        self.state = State::BackOff {
                            until: end + backoff(self.restarts),
                        };
                    } else {
                        self.state = State::Terminated(t);
                        return None;
                    }
                }
            }
        }
    }

    /// Whether the container is running and past its readiness delay.
    pub fn ready(&self, now: Instant, ready_delay: Duration) -> bool {
        matches!(self.state, State::Running { since } if now >= since + ready_delay)
    }

    /// The exit of a container that will not run again.
    pub fn finished(&self) -> Option<Termination> {
        match self.state {
            State::Terminated(t) => Some(t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn backoff_doubles_to_five_minutes() {
        let got: Vec<u64> = (0..9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(got, [0, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[tokio::test(start_paused = true)]
    async fn finite_container_exits_once_under_never() {
        let t0 = Instant::now();
        let mut c = ContainerSim::new(
            "c".into(),
            "busybox".into(),
            Behaviour::Exit {
                code: 0,
                after: secs(5),
            },
        );
        c.start(t0);
        assert_eq!(
            c.advance(t0, RestartPolicy::Never, secs(1)),
            Some(t0 + secs(1))
        );
        assert!(!c.ready(t0, secs(1)));
        assert_eq!(
            c.advance(t0 + secs(1), RestartPolicy::Never, secs(1)),
            Some(t0 + secs(5))
        );
        assert!(c.ready(t0 + secs(1), secs(1)));
        assert_eq!(c.advance(t0 + secs(6), RestartPolicy::Never, secs(1)), None);
        let t = c.finished().unwrap();
        assert_eq!((t.code, t.finished), (0, t0 + secs(5)));
    }

    #[tokio::test(start_paused = true)]
    async fn failing_container_restarts_with_backoff() {
        let t0 = Instant::now();
        let mut c = ContainerSim::new(
            "c".into(),
            "busybox".into(),
            Behaviour::Exit {
                code: 2,
                after: Duration::ZERO,
            },
        );
        c.start(t0);
        // First exit restarts at once, the second waits 10 s.
        assert_eq!(
            c.advance(t0, RestartPolicy::OnFailure, Duration::ZERO),
            Some(t0 + secs(10))
        );
        assert_eq!(c.restarts, 1);
        assert_eq!(
            c.state,
            State::BackOff {
                until: t0 + secs(10)
            }
        );
        assert_eq!(c.last.unwrap().code, 2);
        assert_eq!(
            c.advance(t0 + secs(10), RestartPolicy::OnFailure, Duration::ZERO),
            Some(t0 + secs(30))
        );
        assert_eq!(c.restarts, 2);
        // A long-running container never exits.
        let mut d = ContainerSim::new("d".into(), "nginx".into(), Behaviour::Forever);
        d.start(t0);
        assert_eq!(
            d.advance(t0 + secs(999), RestartPolicy::Always, Duration::ZERO),
            None
        );
        assert!(d.ready(t0, Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn success_is_final_under_on_failure_but_not_always() {
        let t0 = Instant::now();
        let b = Behaviour::Exit {
            code: 0,
            after: secs(1),
        };
        let mut c = ContainerSim::new("c".into(), "i".into(), b);
        c.start(t0);
        c.advance(t0 + secs(2), RestartPolicy::OnFailure, Duration::ZERO);
        assert!(c.finished().is_some());
        let mut d = ContainerSim::new("d".into(), "i".into(), b);
        d.start(t0);
        d.advance(t0 + secs(2), RestartPolicy::Always, Duration::ZERO);
        assert!(d.finished().is_none());
        assert_eq!(d.restarts, 1);
    }
}
