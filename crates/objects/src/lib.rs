//! Typed decoding, defaulting and version conversion of built-in objects.
