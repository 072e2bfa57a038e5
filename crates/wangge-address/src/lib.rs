//! Chinese free-text addresses (DESIGN.md §6): normalisation, parsing into structured parts,
//! matching to the house-code address base, and de-duplication of declared records.
//!
//! Pure: no I/O, no storage. The binary (`wangge match`) and the server (`POST /api/v1/match`,
//! campaigns) build an [`AddressBase`] from house rows and ask it for matches.
//!
//! - [`normalise`] folds the ways one address is written into one: full-width to half-width,
//!   Chinese numerals to Arabic (十二号 → 12号, 二〇一 → 201), variants to one marker (幢/座/号楼
//!   → 栋, 房/号 as a room → 室), noise (phone numbers, "附近", punctuation, spaces) removed.
//! - [`AddressBase::match_address`] finds the known place names in one pass (divisions of the
//!   national code table, and the base's own streets, communities and roads), reads the numbers
//!   by their markers, looks the structured key up exactly, and falls back to fuzzy retrieval
//!   (a character-bigram index over road and community names) with a score over the parts.
//! - [`dedup`] finds records of one person declared twice.

mod base;
pub mod dedup;
pub mod divisions;
mod matcher;
mod normalise;
mod parse;

pub use base::{AddressBase, BaseError, HouseEntry, HouseView};
pub use matcher::{Candidate, DEFAULT_THRESHOLD, Match};
pub use normalise::normalise;
pub use parse::Parsed;
