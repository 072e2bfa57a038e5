//! Patrol tracks: length and the share of a grid covered (issue 8): being built.
