//! Storage for issue 8 (hotline): being built.
