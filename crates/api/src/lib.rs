//! The resource registry and field errors shared by every part of rkube — no I/O.

pub mod field_error;
pub mod quantity;
pub mod registry;

pub use field_error::{ErrorType, FieldError, FieldValue};
pub use registry::{RESOURCES, ResourceInfo};
