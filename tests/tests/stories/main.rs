//! The control plane's acceptance stories, end to end: a real `rkube server` with scheduler
//! and controllers, simulated nodes (`rkube agent --simulate`), and the real kubectl. One
//! test binary; each test runs its own cluster.

mod deletion;
mod deployment;
mod failover;
mod jobs;
mod placement;
mod scheduling;
mod statefulset;
