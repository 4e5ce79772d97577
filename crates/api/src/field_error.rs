//! Field-level validation errors, shaped like upstream's `field.Error`.

use std::fmt;

/// The kind of a field error; the string is upstream's `CauseType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Required,
    Invalid,
    NotSupported,
    Duplicate,
    Forbidden,
    TooLong,
    TooMany,
    NotFound,
    Internal,
}

impl ErrorType {
    /// The `reason` of a `StatusCause` (e.g. `FieldValueRequired`).
    pub fn cause(self) -> &'static str {
        match self {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::NotFound => "FieldValueNotFound",
            ErrorType::Internal => "InternalError",
        }
    }
}

/// A field's offending value: strings are shown quoted, numbers and raw renderings as they are.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Str(String),
    Raw(String),
}

impl FieldValue {
    /// A value shown exactly as given (e.g. `map[string]string{"a":"b"}`).
    pub fn raw(s: impl Into<String>) -> Self {
        FieldValue::Raw(s.into())
    }
}

impl From<&str> for FieldValue {
    fn from(s: &str) -> Self {
        FieldValue::Str(s.to_string())
    }
}
impl From<String> for FieldValue {
    fn from(s: String) -> Self {
        FieldValue::Str(s)
    }
}
impl From<&String> for FieldValue {
    fn from(s: &String) -> Self {
        FieldValue::Str(s.clone())
    }
}
macro_rules! raw_from {
    ($($t:ty),*) => {$(
        impl From<$t> for FieldValue {
            fn from(v: $t) -> Self {
                FieldValue::Raw(v.to_string())
            }
        }
        impl From<&$t> for FieldValue {
            fn from(v: &$t) -> Self {
                FieldValue::Raw(v.to_string())
            }
        }
    )*};
}
raw_from!(
    i8, i16, i32, i64, u8, u16, u32, u64, usize, isize, f32, f64, bool
);

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Str(s) => write!(f, "{s:?}"),
            FieldValue::Raw(s) => f.write_str(s),
        }
    }
}

/// One problem with one field, e.g. `spec.containers[0].name: Required value`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: ErrorType,
    /// Dotted path with indices: `spec.containers[0].image`.
    pub field: String,
    /// The offending value, rendered for the message; None when not shown.
    pub value: Option<FieldValue>,
    pub detail: String,
}

impl FieldError {
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind: ErrorType::Required,
            field: field.into(),
            value: None,
            detail: detail.into(),
        }
    }
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<FieldValue>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: ErrorType::Invalid,
            field: field.into(),
            value: Some(value.into()),
            detail: detail.into(),
        }
    }
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<FieldValue>,
        supported: &[&str],
    ) -> Self {
        let list = supported
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            kind: ErrorType::NotSupported,
            field: field.into(),
            value: Some(value.into()),
            detail: format!("supported values: {list}"),
        }
    }
    pub fn duplicate(field: impl Into<String>, value: impl Into<FieldValue>) -> Self {
        Self {
            kind: ErrorType::Duplicate,
            field: field.into(),
            value: Some(value.into()),
            detail: String::new(),
        }
    }
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind: ErrorType::Forbidden,
            field: field.into(),
            value: None,
            detail: detail.into(),
        }
    }
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self {
            kind: ErrorType::TooLong,
            field: field.into(),
            value: None,
            detail: format!("must have at most {max} bytes"),
        }
    }
}

impl fmt::Display for FieldError {
    /// Upstream's rendering: `field: Invalid value: "v": detail`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorType::Required => "Required value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::NotFound => "Not found",
            ErrorType::Internal => "Internal error",
        };
        write!(f, "{}: {what}", self.field)?;
        if let Some(v) = &self.value
            && matches!(
                self.kind,
                ErrorType::Invalid
                    | ErrorType::NotSupported
                    | ErrorType::Duplicate
                    | ErrorType::NotFound
            )
        {
            write!(f, ": {v}")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_upstream() {
        let e = FieldError::invalid(
            "metadata.name",
            "Bad_Name",
            "a lowercase RFC 1123 subdomain",
        );
        assert_eq!(
            e.to_string(),
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"
        );
        let e = FieldError::required("spec.containers[0].image", "");
        assert_eq!(e.to_string(), "spec.containers[0].image: Required value");
        let e = FieldError::invalid(
            "spec.ports[0].port",
            70000,
            "must be between 1 and 65535, inclusive",
        );
        assert_eq!(
            e.to_string(),
            "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"
        );
        let e = FieldError {
            kind: ErrorType::NotFound,
            field: "spec.containers[0].volumeMounts[0].name".into(),
            value: Some("www".into()),
            detail: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "spec.containers[0].volumeMounts[0].name: Not found: \"www\""
        );
    }
}
