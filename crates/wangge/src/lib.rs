//! The parts of the `wangge` binary that tests and benchmarks reuse: the city generator, demo
//! seeding, the streaming locator, the case-loop benchmark and the timeline check.

pub mod base_data;
pub mod bench;
pub mod bench_base;
pub mod bench_hotline;
pub mod bench_map;
pub mod bench_match;
pub mod bench_patrol;
pub mod bench_stats;
pub mod check;
pub mod demo;
pub mod generate;
pub mod generate_declared;
pub mod generate_registry;
pub mod locate;
pub mod match_cmd;
