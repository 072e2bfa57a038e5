//! The parts of the `wangge` binary that tests and benchmarks reuse: the city generator, demo
//! seeding and the streaming locator.

pub mod demo;
pub mod generate;
pub mod locate;
