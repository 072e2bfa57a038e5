//! `wangge bench match` (issue 7, "Measured"): a generated city's rooms as the address base,
//! noisy declared records with known truth made from them, every record matched.
//!
//! - Accuracy: precision (the top-1 house is the true one, among the matched), recall (matched
//!   to the true house, among the records whose room exists), the share of records declaring a
//!   room not in the base that were matched anyway, over thresholds 0.50 … 0.95 and per noise
//!   kind; the de-duplication against the generator's known duplicates.
//! - Throughput: records matched per second over the run on all cores, per CPU-second (what
//!   one core does), the base's build time and size, the process's peak memory.
//!
//! Records are made and matched a batch at a time in memory, so only the matching is timed
//! (reading and writing CSV are not: `benches/match/run.sh` times the real commands).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use rayon::prelude::*;

use crate::generate_declared::{Declared, Generator, HouseTable, Noise};
use crate::match_cmd::{base_from_houses_csv, cpu_seconds, peak_memory_bytes};
use wangge_address::dedup::{DedupRecord, Deduper};

pub struct BenchMatchOptions {
    /// Grids of the generated city (`None`: one per 250 rooms, 200 … 18,000).
    pub grids: Option<usize>,
    pub rooms: usize,
    pub records: u64,
    pub threshold: f64,
    pub seed: u64,
    /// Where houses.csv is written (removed afterwards).
    pub work_dir: PathBuf,
    pub progress: bool,
}

/// Confidence bins: 0.000 … 1.000.
const BINS: usize = 1001;

fn bin(confidence: f64) -> usize {
    ((confidence * 1000.0 + 1e-9).floor().max(0.0) as usize).min(BINS - 1)
}

/// Counts of one group of records by the confidence of their best house.
#[derive(Clone)]
struct Tally {
    records: u64,
    /// Records whose room is in the base.
    present: u64,
    /// The best house is the true one, by its confidence.
    right: Vec<u64>,
    /// The best house is another (or the room is not in the base), by its confidence.
    wrong: Vec<u64>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            records: 0,
            present: 0,
            right: vec![0; BINS],
            wrong: vec![0; BINS],
        }
    }

    /// (matched, right among them) at a threshold.
    fn at(&self, threshold: f64) -> (u64, u64) {
        let from = bin(threshold);
        let right: u64 = self.right[from..].iter().sum();
        let wrong: u64 = self.wrong[from..].iter().sum();
        (right + wrong, right)
    }

    fn precision(&self, threshold: f64) -> f64 {
        let (matched, right) = self.at(threshold);
        right as f64 / matched.max(1) as f64
    }

    fn recall(&self, threshold: f64) -> f64 {
        let (_, right) = self.at(threshold);
        right as f64 / self.present.max(1) as f64
    }
}

/// Groups: every record, the clean ones, each noise kind, the rooms not in the base.
const GROUPS: usize = 3 + Noise::ALL.len();
const ALL: usize = 0;
const CLEAN: usize = 1;
const ABSENT: usize = 2;

fn group_name(g: usize) -> &'static str {
    match g {
        ALL => "all",
        CLEAN => "clean",
        ABSENT => "absent",
        n => Noise::ALL[n - 3].as_str(),
    }
}

pub struct BenchMatchReport {
    pub grids: usize,
    pub rooms: usize,
    pub houses_seconds: f64,
    pub base_seconds: f64,
    pub base_bytes: usize,
    pub records: u64,
    pub threshold: f64,
    pub match_seconds: f64,
    pub match_cpu_seconds: f64,
    pub threads: usize,
    pub peak_bytes: Option<u64>,
    tallies: Vec<Tally>,
    pub true_duplicates: u64,
    pub found_duplicates: u64,
    pub right_duplicates: u64,
}

/// What one record came to.
struct Outcome {
    confidence: f64,
    has_best: bool,
    right: bool,
    house_code: Option<String>,
}

fn pct(x: f64) -> String {
    format!("{:.2} %", 100.0 * x)
}

impl BenchMatchReport {
    pub fn precision(&self) -> f64 {
        self.tallies[ALL].precision(self.threshold)
    }

    pub fn recall(&self) -> f64 {
        self.tallies[ALL].recall(self.threshold)
    }

    pub fn per_second(&self) -> f64 {
        self.records as f64 / self.match_seconds.max(1e-9)
    }

    pub fn per_core_second(&self) -> f64 {
        self.records as f64 / self.match_cpu_seconds.max(1e-9)
    }

    /// One figure a line.
    pub fn lines(&self) -> Vec<String> {
        let t = self.threshold;
        let all = &self.tallies[ALL];
        let absent = &self.tallies[ABSENT];
        let mut out = vec![
            format!(
                "city: {} grids, {} rooms (house codes) generated in {:.1} s",
                self.grids, self.rooms, self.houses_seconds
            ),
            format!(
                "base build: {:.2} s from houses.csv ({:.0} rooms/s)",
                self.base_seconds,
                self.rooms as f64 / self.base_seconds.max(1e-9)
            ),
            format!("base size: {:.1} MB", self.base_bytes as f64 / 1e6),
            format!(
                "records: {} ({} of rooms not in the base, {} re-declared)",
                self.records, absent.records, self.true_duplicates
            ),
            format!("threshold: {t:.2}"),
            format!(
                "precision (top-1 correct among matched): {}",
                pct(all.precision(t))
            ),
            format!(
                "recall (matched to the true house, among rooms in the base): {}",
                pct(all.recall(t))
            ),
            format!(
                "matched: {}",
                pct(all.at(t).0 as f64 / all.records.max(1) as f64)
            ),
            format!(
                "rooms not in the base matched anyway: {} of {}",
                absent.at(t).0,
                absent.records
            ),
        ];
        out.push("by threshold: threshold, matched, precision, recall".into());
        for k in 0..10 {
            let th = 0.5 + 0.05 * k as f64;
            out.push(format!(
                "  {th:.2}  {:>8}  {:>8}  {:>8}",
                pct(all.at(th).0 as f64 / all.records.max(1) as f64),
                pct(all.precision(th)),
                pct(all.recall(th))
            ));
        }
        out.push(format!(
            "by noise kind at {t:.2}: kind, records, precision, recall"
        ));
        for (g, tally) in self.tallies.iter().enumerate().skip(1) {
            if g == ABSENT {
                continue;
            }
            out.push(format!(
                "  {:<9} {:>9}  {:>8}  {:>8}",
                group_name(g),
                tally.records,
                pct(tally.precision(t)),
                pct(tally.recall(t))
            ));
        }
        out.push(format!(
            "de-duplication: {} of {} re-declarations found, {} wrongly",
            self.right_duplicates,
            self.true_duplicates,
            self.found_duplicates - self.right_duplicates
        ));
        out.push(format!(
            "throughput: {:.0} records/s on {} threads ({:.1} s matching)",
            self.per_second(),
            self.threads,
            self.match_seconds
        ));
        out.push(format!(
            "per core: {:.0} records per CPU-second",
            self.per_core_second()
        ));
        if let Some(p) = self.peak_bytes {
            out.push(format!(
                "peak memory: {} MB (base, house table and one batch of records)",
                p / 1_000_000
            ));
        }
        out
    }

    /// One line for logs.
    pub fn summary(&self) -> String {
        format!(
            "bench match rooms={} records={} threshold={:.2} precision={:.4} recall={:.4} \
             records_per_s={:.0} per_core={:.0} base_s={:.2} peak_mb={}",
            self.rooms,
            self.records,
            self.threshold,
            self.precision(),
            self.recall(),
            self.per_second(),
            self.per_core_second(),
            self.base_seconds,
            self.peak_bytes.unwrap_or(0) / 1_000_000
        )
    }
}

pub fn run(opts: &BenchMatchOptions) -> Result<BenchMatchReport> {
    let grids = opts
        .grids
        .unwrap_or_else(|| (opts.rooms / 250).clamp(200, 18_000));
    std::fs::create_dir_all(&opts.work_dir)?;
    let houses_path = opts.work_dir.join("houses.csv");
    let result = run_in(opts, grids, &houses_path);
    let _ = std::fs::remove_file(&houses_path);
    let _ = std::fs::remove_dir(&opts.work_dir);
    result
}

fn run_in(
    opts: &BenchMatchOptions,
    grids: usize,
    houses_path: &std::path::Path,
) -> Result<BenchMatchReport> {
    let say = |s: &str| {
        if opts.progress {
            eprintln!("bench match: {s}");
        }
    };
    say(&format!(
        "generating a city of {grids} grids and {} rooms …",
        opts.rooms
    ));
    let started = Instant::now();
    let city = crate::generate::generate_city(grids, opts.seed);
    let rooms =
        crate::generate_registry::write_houses_file(&city, opts.rooms, opts.seed, houses_path)?;
    drop(city);
    let houses_seconds = started.elapsed().as_secs_f64();

    say("building the address base …");
    let started = Instant::now();
    let base = base_from_houses_csv(houses_path)?;
    let base_seconds = started.elapsed().as_secs_f64();
    let table = HouseTable::read(houses_path)?;
    let generator = Generator::new(&table, opts.seed, opts.records)?;

    say(&format!("matching {} records …", opts.records));
    let bar = if opts.progress {
        indicatif::ProgressBar::new(opts.records)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "matching [{bar:40}] {pos}/{len} records ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut tallies = vec![Tally::new(); GROUPS];
    let mut dedup = Deduper::default();
    let (mut true_dups, mut found_dups, mut right_dups) = (0u64, 0u64, 0u64);
    let (mut match_seconds, mut match_cpu) = (0.0, 0.0);
    let batch = rayon::current_num_threads().max(1) as u64 * 2;
    let chunks = generator.chunks();
    let mut k = 0;
    while k < chunks {
        let end = (k + batch).min(chunks);
        let records: Vec<Declared> = (k..end)
            .into_par_iter()
            .flat_map_iter(|c| generator.chunk(c))
            .collect();
        let wall = Instant::now();
        let cpu = cpu_seconds();
        let outcomes: Vec<Outcome> = records
            .par_iter()
            .map(|r| {
                // The best house whatever its confidence: thresholds are applied afterwards.
                let m = base.match_with(&r.address, 0.0);
                let right = match (r.truth, m.house_code.as_deref()) {
                    (Some(t), Some(h)) => table.code(t as usize) == h,
                    _ => false,
                };
                Outcome {
                    confidence: m.confidence,
                    has_best: m.house_code.is_some(),
                    right,
                    house_code: m.house_code,
                }
            })
            .collect();
        match_seconds += wall.elapsed().as_secs_f64();
        match_cpu += cpu_seconds() - cpu;
        for (r, o) in records.iter().zip(&outcomes) {
            let mut groups = [false; GROUPS];
            groups[ALL] = true;
            groups[CLEAN] = r.noise.is_clean();
            groups[ABSENT] = r.truth.is_none();
            for (i, n) in Noise::ALL.iter().enumerate() {
                groups[3 + i] = r.noise.contains(*n);
            }
            let b = bin(o.confidence);
            for (g, on) in groups.iter().enumerate() {
                if !on {
                    continue;
                }
                let t = &mut tallies[g];
                t.records += 1;
                t.present += u64::from(r.truth.is_some());
                if o.has_best {
                    if o.right {
                        t.right[b] += 1;
                    } else {
                        t.wrong[b] += 1;
                    }
                }
            }
            let taken = o
                .house_code
                .as_deref()
                .filter(|_| o.confidence >= opts.threshold);
            let found = dedup.push(&DedupRecord {
                identity_number: Some(r.identity_number.as_str()),
                name: Some(r.name.as_str()),
                phone: Some(r.phone.as_str()),
                house_code: taken,
            });
            true_dups += u64::from(r.duplicate_of.is_some());
            if let Some((kept, _)) = found {
                found_dups += 1;
                // Record ids start at 1; the dedup counts from 0.
                right_dups += u64::from(r.duplicate_of == Some(kept as u64 + 1));
            }
        }
        bar.inc(records.len() as u64);
        k = end;
    }
    bar.finish_and_clear();
    Ok(BenchMatchReport {
        grids,
        rooms,
        houses_seconds,
        base_seconds,
        base_bytes: base.memory_bytes(),
        records: opts.records,
        threshold: opts.threshold,
        match_seconds,
        match_cpu_seconds: match_cpu,
        threads: rayon::current_num_threads(),
        peak_bytes: peak_memory_bytes(),
        tallies,
        true_duplicates: true_dups,
        found_duplicates: found_dups,
        right_duplicates: right_dups,
    })
}
