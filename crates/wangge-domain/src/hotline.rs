//! Matching hotline tickets to cases already found on patrol (issue 8): being built.
