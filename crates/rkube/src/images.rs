//! `rkube images import FILE`: loads a `docker save` or OCI image-layout
//! archive onto the node's containerd, in the namespace CRI uses (`k8s.io`),
//! so that pods with `imagePullPolicy: Never` or `IfNotPresent` find the image
//! under its name. It talks to containerd's own gRPC API (content store and
//! images service; CRI has no import call); containerd's CRI unpacks the
//! layers when the first container of the image is created.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::images_archive::{Unpacked, plan};
use crate::images_containerd::Containerd;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    #[command(subcommand)]
    pub command: ImagesCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Load a `docker save` or OCI image-layout tar (optionally gzipped) into containerd.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The archive.
    pub file: PathBuf,
    /// containerd's gRPC socket.
    #[arg(long, default_value = "/run/containerd/containerd.sock")]
    pub address: PathBuf,
    /// containerd namespace (CRI's is k8s.io).
    #[arg(long, default_value = "k8s.io")]
    pub namespace: String,
}

/// Runs `rkube images …`.
pub fn run(args: ImagesArgs) -> ExitCode {
    let ImagesCommand::Import(args) = args.command;
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rkube images import: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(import(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rkube images import: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn import(args: &ImportArgs) -> Result<()> {
    let unpacked = Unpacked::new(&args.file)?;
    let plan = plan(unpacked.path()).with_context(|| format!("reading {}", args.file.display()))?;
    let mut cd = Containerd::connect(&args.address, &args.namespace).await?;
    cd.lease().await?;
    let result = async {
        let mut written = 0;
        for blob in &plan.blobs {
            if cd.put(blob).await? {
                written += 1;
            }
        }
        tracing::info!(blobs = plan.blobs.len(), written, "content stored");
        for (name, target) in &plan.images {
            cd.set_image(name, target.clone()).await?;
            println!("imported {name} ({})", target.digest);
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    let released = cd.release().await;
    result?;
    released
}
