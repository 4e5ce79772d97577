//! Server-side Table columns and cells for every built-in type, as kubectl shows them.
