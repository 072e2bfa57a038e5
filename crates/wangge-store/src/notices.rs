//! Storage for issue 8 (notices): being built.
