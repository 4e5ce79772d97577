//! Validation of built-in objects as upstream validates them.
