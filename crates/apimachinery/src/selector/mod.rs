//! Label and field selectors: parsing with upstream's syntax and messages, matching, printing.

mod field;
mod label;
mod label_parse;
pub mod validation;

pub use field::{FieldOperator, FieldRequirement, FieldSelector};
pub use label::{LabelSelector, Operator, Requirement};

/// A selector that could not be parsed or built; the message is upstream's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SelectorError {
    message: String,
}

impl SelectorError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        SelectorError {
            message: message.into(),
        }
    }

    /// The message, as upstream puts it in a 400 Status.
    pub fn message(&self) -> &str {
        &self.message
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
