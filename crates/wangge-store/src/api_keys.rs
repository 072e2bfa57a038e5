//! Storage for issue 8 (api_keys): being built.
