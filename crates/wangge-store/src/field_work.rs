//! Storage for issue 8 (field_work): being built.
