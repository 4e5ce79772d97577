//! rkube: Kubernetes in one binary.

mod agent_cmd;
mod allocator;
mod cli;
mod client;
mod images;
mod images_archive;
mod images_containerd;
mod logging;
mod server_cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    logging::init();
    match cli.command {
        cli::Command::Server(args) => server_cmd::run(args),
        cli::Command::Agent(args) => agent_cmd::run(args),
        cli::Command::Kubectl(args) => kubectl(args),
        cli::Command::Images(args) => images::run(args),
    }
}

/// `rkube kubectl ARGS…`: the real kubectl with this cluster's kubeconfig.
fn kubectl(args: cli::KubectlArgs) -> std::process::ExitCode {
    use std::os::unix::process::CommandExt;
    let kubeconfig = args.data_dir.join("kubeconfig.yaml");
    let mut cmd = std::process::Command::new("kubectl");
    if std::env::var_os("KUBECONFIG").is_none() {
        cmd.env("KUBECONFIG", &kubeconfig);
    }
    let err = cmd.args(&args.args).exec();
    eprintln!("rkube kubectl: cannot run kubectl: {err}");
    std::process::ExitCode::from(127)
}
