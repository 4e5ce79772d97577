//! JSON patch, JSON merge patch, strategic merge patch, label and field selectors.
