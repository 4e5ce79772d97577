//! The pause process of a pod sandbox (registry.k8s.io/pause's role).
//!
//! It holds the pod's shared namespaces open, reaps every child that is
//! reparented to it (it is PID 1 when the pod shares a PID namespace) and exits
//! 0 on SIGTERM or SIGINT. `pause -v` prints the version. The images build it
//! statically (`-C target-feature=+crt-static`) so the image needs no libraries.

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    if let Some(arg) = args.next() {
        if arg == "-v" || arg == "--version" {
            println!("pause.rkube-{}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        eprintln!("usage: pause [-v]");
        return ExitCode::from(2);
    }
    if std::process::id() != 1 {
        eprintln!("Warning: pause should be the first process");
    }

    // Block the signals we act on and take them synchronously with sigwait:
    // no handler runs, so there is nothing to race with.
    let mut set = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD] {
        set.add(signal);
    }
    if let Err(e) = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None) {
        eprintln!("pause: blocking signals: {e}");
        return ExitCode::FAILURE;
    }
    loop {
        match set.wait() {
            Ok(Signal::SIGCHLD) => reap(),
            Ok(signal) => {
                eprintln!("Shutting down, got signal: {signal}");
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("pause: sigwait: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
}

/// Collects every child that has exited, so no zombie is left behind.
fn reap() {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => return,
        }
    }
}
