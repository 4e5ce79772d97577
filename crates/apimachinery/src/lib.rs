//! JSON patch, JSON merge patch, strategic merge patch, label and field selectors.

pub mod fields;
pub mod patch;
pub mod selector;
