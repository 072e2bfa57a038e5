//! The wangge domain: regions and their codes, the case category catalogue, cases and their
//! timeline, roles. Pure: no HTTP, no SQL, no files — storage and transport are adapters around it.

pub mod calendar;
pub mod case;
pub mod case_clock;
pub mod case_loop;
pub mod category;
pub mod deadline;
pub mod dispatch;
pub mod evaluation;
pub mod hotline;
pub mod identity;
pub mod ledger;
pub mod patrol;
pub mod position;
pub mod region;
pub mod registry;
pub mod role;
pub mod unit;

/// A new identifier that needs no central sequence (UUIDv7: time-ordered, random tail), so two
/// servers of a distributed deployment never hand out the same id.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}
