//! Typed decoding, defaulting and version conversion of built-in objects.
//!
//! The API server works on `serde_json::Value` objects; this crate gives them
//! upstream's shape: [`decode`] normalizes an object through its k8s-openapi
//! type and reports unknown fields, [`apply_defaults`] fills in what upstream's
//! defaulting functions fill in, and [`to_storage`] / [`from_storage`] convert
//! between a served version and the version objects are stored in.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod convert;
mod decode;
pub mod defaults;
mod error;
mod quantity;
mod types;

pub use convert::{from_storage, storage_api_version, to_storage};
pub use decode::{Decoded, decode, decode_owned};
pub use defaults::{
    apply_create_defaults, apply_defaults, apply_job_create_defaults, apply_pod_admission_defaults,
};
pub use error::DecodeError;
