//! testapp: the project's small test program, like upstream's agnhost.
//!
//! ```text
//! testapp serve [--port 8080] [--fail-file PATH]   HTTP server (see below)
//! testapp hostname                                 print the hostname
//! testapp exit CODE                                exit with CODE
//! testapp pause                                    sleep until SIGTERM/SIGINT, exit 0
//! ```
//!
//! `serve` answers:
//! - `/` and `/hostname`: the hostname (the pod name in a pod);
//! - `/healthz`: 200 `ok` while healthy, 500 `unhealthy` after `/flip` or while
//!   `--fail-file` exists;
//! - `/flip`: toggles `/healthz` and prints the new state;
//! - `/echo?msg=TEXT`: TEXT;
//! - `/exit?code=N`: answers, then exits with N.
//!
//! SIGTERM and SIGINT end `serve` and `pause` with status 0: as PID 1 of a
//! container the default action of those signals would be ignored.

mod serve;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "testapp", version, about = "rkube's HTTP test program")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP: /, /hostname, /healthz, /flip, /echo?msg=, /exit?code=
    Serve(serve::Options),
    /// Print the hostname.
    Hostname,
    /// Exit with the given status code.
    Exit {
        /// The exit status (0-255).
        code: u8,
    },
    /// Sleep until SIGTERM or SIGINT, then exit 0.
    Pause,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Hostname => {
            println!("{}", serve::hostname());
            ExitCode::SUCCESS
        }
        Command::Exit { code } => ExitCode::from(code),
        Command::Serve(options) => runtime().block_on(serve::serve(options)),
        Command::Pause => runtime().block_on(async {
            serve::terminated().await;
            ExitCode::SUCCESS
        }),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("testapp: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    }
}
