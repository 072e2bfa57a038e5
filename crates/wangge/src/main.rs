//! `wangge`: the one binary — serve, demo, generate, import, locate, migrate, bench, check.

use wangge::{bench, check, demo, generate, locate};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use wangge_domain::region::Level;
use wangge_geo::crs::Crs;
use wangge_server::atlas::{Atlas, RegionInfo};
use wangge_server::region_import::{ImportOptions, import_regions, parse_features};
use wangge_server::{AppState, Config};
use wangge_store::AnyStore;

#[derive(Parser)]
#[command(
    name = "wangge",
    version,
    about = "网格 wangge — grid-based city governance (网格化管理)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct DbArg {
    /// SQLite file path, or a postgres:// URL.
    #[arg(long, env = "WANGGE_DB", default_value = "wangge.db")]
    db: String,
}

#[derive(clap::Args, Clone)]
struct FilesArg {
    /// Directory for evidence files (photos), created if missing.
    #[arg(long, env = "WANGGE_FILES", default_value = "wangge-files")]
    files: PathBuf,
    /// A raster tile URL template for the console's maps, e.g. 天地图 with your key
    /// (`https://t0.tianditu.gov.cn/vec_w/wmts?…&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=KEY`).
    /// Without it the maps draw the regions alone and need no tile server.
    #[arg(long, env = "WANGGE_TILE_URL")]
    tile_url: Option<String>,
    /// Mark the session cookie Secure; set it when users reach the server over HTTPS (for
    /// example behind a TLS-terminating proxy).
    #[arg(long, env = "WANGGE_SECURE_COOKIES")]
    secure_cookies: bool,
    /// A JSON file of evaluation settings: the composite scores' weights, the volume steps and
    /// the missed-report rule (docs/evaluation.example.json; absent keys keep the defaults).
    #[arg(long, env = "WANGGE_EVALUATION")]
    evaluation: Option<PathBuf>,
    /// The hotline platform's callback URL: a closed hotline case's outcome is posted there as
    /// JSON (docs/hotline.md). Without it outcomes are kept for export only.
    #[arg(long, env = "WANGGE_HOTLINE_CALLBACK_URL")]
    hotline_callback_url: Option<String>,
    /// A webhook personal notifications are posted to as JSON (docs/notices.md). Without it
    /// they are shown in the console and written to the log only.
    #[arg(long, env = "WANGGE_NOTICE_WEBHOOK_URL")]
    notice_webhook_url: Option<String>,
    /// The secret the webhook's bodies are signed with (HMAC-SHA256 in `X-Wangge-Signature`).
    #[arg(long, env = "WANGGE_NOTICE_WEBHOOK_SECRET", hide_env_values = true)]
    notice_webhook_secret: Option<String>,
    #[command(flatten)]
    data: DataArg,
}

/// How personal data is protected: the key it is sealed with and the base-data settings.
#[derive(clap::Args, Clone)]
struct DataArg {
    /// The 32-byte key personal data (identity numbers, phones …) is sealed with, as 64 hex
    /// characters. Keep it outside the database and its backups; without it people cannot be
    /// read. `openssl rand -hex 32` makes one.
    #[arg(long, env = "WANGGE_DATA_KEY", hide_env_values = true)]
    data_key: Option<String>,
    /// A JSON file of base-data settings: person tags, the roles granted full reads of
    /// personal data, the retention period (docs/base-data.example.json).
    #[arg(long, env = "WANGGE_BASE_DATA")]
    base_data: Option<PathBuf>,
}

impl DataArg {
    fn vault(&self) -> Result<Option<std::sync::Arc<wangge_store::vault::Vault>>> {
        let Some(text) = &self.data_key else {
            return Ok(None);
        };
        let vault = wangge_store::vault::Vault::from_key_text(text.trim())
            .map_err(|e| anyhow::anyhow!("--data-key / WANGGE_DATA_KEY: {e}"))?;
        Ok(Some(std::sync::Arc::new(vault)))
    }

    fn settings(&self) -> Result<wangge_server::registry::BaseDataSettings> {
        let Some(path) = &self.base_data else {
            return Ok(Default::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the base-data settings {}", path.display()))?;
        wangge_server::registry::BaseDataSettings::from_json(&text)
            .map_err(|e| anyhow::anyhow!("base-data settings {}: {e}", path.display()))
    }

    /// The configured key, or for the demo one kept in a file beside its evidence files, made
    /// on first start.
    fn demo_vault(&self, dir: &Path) -> Result<std::sync::Arc<wangge_store::vault::Vault>> {
        if let Some(v) = self.vault()? {
            return Ok(v);
        }
        let path = dir.join("data.key");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(_) => {
                std::fs::create_dir_all(dir)?;
                let t = wangge_store::vault::Vault::new_key_text();
                std::fs::write(&path, &t)
                    .with_context(|| format!("writing the demo's data key {}", path.display()))?;
                eprintln!(
                    "demo: personal data is sealed with a new key in {} (a real server takes WANGGE_DATA_KEY)",
                    path.display()
                );
                t
            }
        };
        let vault = wangge_store::vault::Vault::from_key_text(text.trim())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(std::sync::Arc::new(vault))
    }
}

impl FilesArg {
    fn evaluation(&self) -> Result<wangge_server::EvaluationSettings> {
        let Some(path) = &self.evaluation else {
            return Ok(Default::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the evaluation settings {}", path.display()))?;
        wangge_server::EvaluationSettings::from_json(&text)
            .map_err(|e| anyhow::anyhow!("evaluation settings {}: {e}", path.display()))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and pages.
    Serve {
        #[arg(long, env = "WANGGE_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        #[command(flatten)]
        db: DbArg,
        /// Largest request body in bytes (larger ones answer 413).
        #[arg(long, default_value_t = 16 * 1024 * 1024)]
        body_limit: usize,
        #[command(flatten)]
        files: FilesArg,
    },
    /// Create the generated demo city in the database if it is empty, then serve it.
    Demo {
        #[arg(long, env = "WANGGE_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        #[command(flatten)]
        db: DbArg,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Unit grids in the generated city.
        #[arg(long, default_value_t = 2000)]
        grids: usize,
        /// Sample cases to report.
        #[arg(long, default_value_t = 300)]
        cases: usize,
        #[command(flatten)]
        files: FilesArg,
    },
    /// Write generated data as files.
    Generate {
        #[command(subcommand)]
        what: GenerateWhat,
    },
    /// Import data into the database.
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Find the unit grid of each point of a CSV file (id,lon,lat → id,lon,lat,grid_code,error).
    Locate {
        #[command(flatten)]
        db: DbArg,
        /// Use the grids of this GeoJSON file instead of the database.
        #[arg(long)]
        regions: Option<PathBuf>,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        output: PathBuf,
    },
    /// Match the free-text addresses of a CSV to house codes (UTF-8 with or without a BOM,
    /// GB18030 or UTF-16): the output is the input's columns, then house_code, confidence,
    /// reason, grid_code, candidates (the nearest houses of an unmatched address), and with
    /// --dedup duplicate_of (the record number kept, 1 = the first data row) and
    /// duplicate_rule. Streams in input order on all cores.
    Match {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        output: PathBuf,
        /// The column holding the address (default: address, 地址, 住址, 详细地址 … whichever
        /// the input has).
        #[arg(long)]
        address_column: Option<String>,
        /// The address base: a houses CSV (house_code, grid_code, province … room; `wangge
        /// generate city` writes one). Without it, the registry's houses in --db.
        #[arg(long)]
        houses: Option<PathBuf>,
        #[command(flatten)]
        db: DbArg,
        /// Confidence (0–1) at which a match is taken; below it the record is unmatched.
        #[arg(long, default_value_t = wangge_address::DEFAULT_THRESHOLD)]
        threshold: f64,
        /// Mark records of a person declared before: the same identity number, or the same
        /// name, phone and matched house.
        #[arg(long)]
        dedup: bool,
        /// The identity number column for --dedup (default: identity_number if present).
        #[arg(long)]
        id_column: Option<String>,
        /// The name column for --dedup (default: name if present).
        #[arg(long)]
        name_column: Option<String>,
        /// The phone column for --dedup (default: phone if present).
        #[arg(long)]
        phone_column: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DbArg,
    },
    /// Load tests against a running server.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Consistency checks of a database.
    Check {
        #[command(subcommand)]
        what: CheckWhat,
    },
    /// The evaluation ledger statistics are counted from.
    Ledger {
        #[command(subcommand)]
        what: LedgerWhat,
    },
}

#[derive(Subcommand)]
enum LedgerWhat {
    /// Makes every case's ledger record again from its timeline with the deadlines, calendar and
    /// evaluation settings in force now (e.g. after adding a forgotten holiday that should count
    /// for past cases too), then writes the image. Run it with the servers stopped.
    Rebuild {
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
    /// Hotline tickets imported with matching to the cases found on patrol; prints tickets/s.
    Hotline {
        #[command(flatten)]
        db: DbArg,
        #[arg(long, default_value_t = 100_000)]
        tickets: usize,
    },
    /// Patrol positions ingested (as grid workers' phones send them); prints positions/s.
    Positions {
        #[command(flatten)]
        db: DbArg,
        #[arg(long, default_value_t = 200_000)]
        positions: usize,
    },
    /// Address matching: a generated city's rooms as the base, noisy declared records with
    /// known truth matched on all cores in memory; prints precision and recall (by threshold
    /// and noise kind), de-duplication, records/s, records per CPU-second, the base's build
    /// time and size, peak memory.
    Match {
        /// Rooms (house codes) in the address base.
        #[arg(long, default_value_t = 200_000)]
        rooms: usize,
        /// Declared records to match.
        #[arg(long, default_value_t = 500_000)]
        records: u64,
        #[arg(long, default_value_t = wangge_address::DEFAULT_THRESHOLD)]
        threshold: f64,
        /// Grids of the generated city (default: one per 250 rooms, 200 … 18,000).
        #[arg(long)]
        grids: Option<usize>,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Fill a database for the map benchmark: a generated city and open cases spread over it.
    MapSeed {
        #[command(flatten)]
        db: DbArg,
        #[arg(long, default_value_t = 18000)]
        grids: usize,
        #[arg(long, default_value_t = 50000)]
        cases: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// A year of cases (generated into the database if it is empty), then every indicator of
    /// the year from a fresh server (cold) and again (warm); prints the seconds.
    Stats {
        #[command(flatten)]
        db: DbArg,
        /// Cases in the year (Beijing Chaoyang: 1.6 million).
        #[arg(long, default_value_t = 1_600_000)]
        cases: usize,
        #[arg(long, default_value_t = 18000)]
        grids: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Base data: a generated city's houses and people imported district by district (rows/s),
    /// then people searched over HTTP by partial name, masked or partial identity number, phone
    /// and address as a district user, a community user and the administrator (p50/p99 per kind
    /// of search).
    Base {
        #[command(flatten)]
        db: DbArg,
        #[arg(long, default_value_t = 18000)]
        grids: usize,
        /// Rooms (house codes) to generate and import.
        #[arg(long, default_value_t = 300_000)]
        houses: usize,
        /// People (each with their residence) to generate and import.
        #[arg(long, default_value_t = 1_000_000)]
        people: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Searches of each kind, per user.
        #[arg(long, default_value_t = 200)]
        searches: usize,
        /// The key personal data is sealed with (64 hex characters); a fixed one if absent.
        #[arg(long, env = "WANGGE_DATA_KEY", hide_env_values = true)]
        data_key: Option<String>,
        /// Ask for the total of every search too (count=true), as the console's people list
        /// does.
        #[arg(long)]
        with_count: bool,
    },
    /// Full case lifecycles over HTTP (report → register → dispatch → accept → handle →
    /// check_pass → close) by the demo users; prints transitions/s and latency percentiles.
    Loop {
        /// The server, e.g. http://127.0.0.1:8080 (one started by `wangge demo`).
        #[arg(long)]
        url: String,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Cases to run through the loop, in total.
        #[arg(long, default_value_t = 2000)]
        cases: usize,
        /// Password of the demo users.
        #[arg(long, default_value = "demo")]
        password: String,
        /// Append `case_id,version,action` for every acknowledged transition to this file.
        #[arg(long)]
        ack_log: Option<PathBuf>,
        /// Seconds before a request counts as failed.
        #[arg(long, default_value_t = 30)]
        timeout_s: u64,
        /// Stop starting cases after this many errors (0: run all cases whatever happens).
        #[arg(long, default_value_t = 0)]
        max_errors: u64,
    },
}

#[derive(Subcommand)]
enum CheckWhat {
    /// Every case's timeline is a legal path of the loop and matches its cached status; with
    /// --acks, every acknowledged transition of a `bench loop --ack-log` file is stored.
    Timelines {
        #[command(flatten)]
        db: DbArg,
        /// An ack log (`case_id,version,action` per line) to check against the database.
        #[arg(long)]
        acks: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum GenerateWhat {
    /// A generated city: DIR/regions.geojson with every region of every level, and
    /// DIR/houses.csv with its rooms (house codes and address parts; the rooms `wangge demo`
    /// registers for the same --grids and --seed, and `wangge generate registry` writes).
    City {
        #[arg(long, default_value_t = 2000)]
        grids: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Rooms (one house code each) in houses.csv; buildings come whole, so up to 15 more.
        /// Default: 4 per grid, as in the demo. 0 writes no houses.csv.
        #[arg(long)]
        houses: Option<usize>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Random points (id,lon,lat) in the bounding box of a regions file, for load tests and benchmarks.
    Points {
        #[arg(long)]
        regions: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Citizen-declared records with known truth, from the rooms of a houses.csv: record_id,
    /// name, identity_number, phone, address (with typos, numeral forms, variants, missing
    /// parts, swapped order, extra noise), true_house_code (empty for a room not in the base),
    /// true_duplicate_of, noise. Deterministic per seed; streams.
    Declared {
        /// A houses file (`wangge generate city` or `generate registry` writes one).
        #[arg(long)]
        houses: PathBuf,
        #[arg(long, default_value_t = 100_000)]
        count: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// The base data of a generated city: DIR/houses.csv, people.csv, organisations.csv and
    /// components.csv (UTF-8 with a BOM; deterministic per seed and counts).
    Registry {
        #[arg(long, default_value_t = 2000)]
        grids: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Rooms (one house code each); buildings come whole, so up to 15 more.
        #[arg(long, default_value_t = 20_000)]
        houses: usize,
        /// People, at most five per residential or rental room.
        #[arg(long, default_value_t = 60_000)]
        people: usize,
        #[arg(long, default_value_t = 2_000)]
        organisations: usize,
        #[arg(long, default_value_t = 10_000)]
        components: usize,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ImportWhat {
    /// Regions from GeoJSON or a Shapefile (.shp with its .dbf); all or nothing.
    Regions {
        file: PathBuf,
        /// Coordinate system of the file; converted to WGS-84.
        #[arg(long, default_value = "wgs84")]
        crs: Crs,
        /// Overlaps and gaps up to this many square metres are tolerated.
        #[arg(long, default_value_t = 1.0)]
        tolerance_m2: f64,
        /// Check only; store nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Base data (houses, people with their homes, organisations, components) from CSV or
    /// .xlsx: every bad row reported; all rows stored or none; upsert by the natural key.
    Base {
        /// houses, people, organisations or components
        kind: String,
        file: PathBuf,
        /// The district imported into.
        #[arg(long)]
        district: String,
        /// Column choices `field:Header;field:Header` (the rest match by name or known headers).
        #[arg(long)]
        map: Option<String>,
        /// The worksheet of a workbook.
        #[arg(long)]
        sheet: Option<String>,
        /// Check only; store nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        data: DataArg,
    },
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("WANGGE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("WANGGE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Generate {
            what:
                GenerateWhat::City {
                    grids,
                    seed,
                    houses,
                    out,
                },
        } => generate_city(grids, seed, houses, &out),
        Command::Generate {
            what:
                GenerateWhat::Points {
                    regions,
                    count,
                    seed,
                    out,
                },
        } => {
            let raw = read_region_file(&regions)?;
            let bbox = raw
                .iter()
                .filter_map(|f| f.geometry.as_ref().ok())
                .filter_map(geo::BoundingRect::bounding_rect)
                .reduce(|a, b| {
                    geo::Rect::new(
                        geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                        geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
                    )
                })
                .with_context(|| format!("{} has no polygons", regions.display()))?;
            generate::write_points(bbox, count, seed, &out)?;
            eprintln!("wrote {count} points to {}", out.display());
            Ok(())
        }
        Command::Generate {
            what:
                GenerateWhat::Declared {
                    houses,
                    count,
                    seed,
                    out,
                },
        } => {
            use wangge::generate_declared::{HouseTable, write_declared};
            let table = HouseTable::read(&houses)?;
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let started = std::time::Instant::now();
            let s = write_declared(&table, seed, count, &out, progress)?;
            eprintln!(
                "wrote {} declared records ({} of rooms not in the base, {} re-declared, {} clean) \
                 from {} houses to {} in {:.1} s",
                s.records,
                s.absent,
                s.duplicates,
                s.clean,
                table.len(),
                out.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Generate {
            what:
                GenerateWhat::Registry {
                    grids,
                    seed,
                    houses,
                    people,
                    organisations,
                    components,
                    out,
                },
        } => {
            use wangge::generate_registry::{RegistryCounts, write_registry};
            let city = generate::generate_city(grids, seed);
            let counts = RegistryCounts {
                houses,
                people,
                organisations,
                components,
            };
            let files = write_registry(&city, &counts, seed, &out)?;
            let n = files.written;
            eprintln!(
                "wrote {} houses, {} people, {} organisations and {} components to {}",
                n.houses,
                n.people,
                n.organisations,
                n.components,
                out.display()
            );
            Ok(())
        }
        Command::Bench {
            what:
                BenchWhat::Match {
                    rooms,
                    records,
                    threshold,
                    grids,
                    seed,
                },
        } => {
            let opts = wangge::bench_match::BenchMatchOptions {
                grids,
                rooms,
                records,
                threshold,
                seed,
                work_dir: std::env::temp_dir()
                    .join(format!("wangge-bench-match-{}", std::process::id())),
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let report = wangge::bench_match::run(&opts)?;
            for line in report.lines() {
                println!("{line}");
            }
            eprintln!("{}", report.summary());
            Ok(())
        }
        Command::Match {
            input,
            output,
            address_column,
            houses,
            db,
            threshold,
            dedup,
            id_column,
            name_column,
            phone_column,
        } => {
            use wangge::match_cmd;
            if !(0.0..=1.0).contains(&threshold) {
                bail!("--threshold must be between 0 and 1, not {threshold}");
            }
            let opts = match_cmd::MatchOptions {
                input: &input,
                output: &output,
                address_column: address_column.as_deref(),
                threshold,
                dedup: dedup.then_some(match_cmd::DedupColumns {
                    id: id_column,
                    name: name_column,
                    phone: phone_column,
                }),
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            match_cmd::check_input(&opts)?;
            let started = std::time::Instant::now();
            let base = match &houses {
                Some(path) => match_cmd::base_from_houses_csv(path)?,
                None => match_cmd::base_from_db(&db.db)?,
            };
            eprintln!(
                "address base: {} houses from {} in {:.1} s ({:.1} MB)",
                base.len(),
                houses
                    .as_ref()
                    .map_or_else(|| db.db.clone(), |p| p.display().to_string()),
                started.elapsed().as_secs_f64(),
                base.memory_bytes() as f64 / 1e6
            );
            let s = match_cmd::match_file(&base, &opts)?;
            let share = |n: u64| 100.0 * n as f64 / (s.records.max(1)) as f64;
            eprintln!(
                "{} records: {} matched ({:.1} %), {} unmatched ({:.1} %{}){} → {}",
                s.records,
                s.matched,
                share(s.matched),
                s.unmatched,
                share(s.unmatched),
                if s.empty > 0 {
                    format!(", {} without an address", s.empty)
                } else {
                    String::new()
                },
                if dedup {
                    format!(", {} duplicates", s.duplicates)
                } else {
                    String::new()
                },
                output.display()
            );
            eprintln!(
                "{:.1} s, {:.0} records/s on {} threads ({:.0} records per CPU-second), peak memory {} MB",
                s.seconds,
                s.per_second(),
                s.threads,
                s.per_core_second(),
                match_cmd::peak_memory_bytes().unwrap_or(0) / 1_000_000
            );
            Ok(())
        }
        Command::Locate {
            db,
            regions,
            input,
            output,
        } => {
            let atlas = match regions {
                Some(path) => std::sync::Arc::new(atlas_from_file(&path)?),
                None => runtime()?.block_on(async {
                    let store = AnyStore::open(&db.db).await?;
                    let state = AppState::load(store, Config::default()).await?;
                    anyhow::Ok(state.atlas())
                })?,
            };
            if atlas.grid_count() == 0 {
                bail!(
                    "no unit grids to locate against: import regions first or pass --regions FILE"
                );
            }
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let stats = locate::locate_file(&atlas, &input, &output, progress)?;
            eprintln!(
                "{} rows: {} located, {} outside every grid, {} with errors → {}",
                stats.rows,
                stats.located,
                stats.outside,
                stats.bad,
                output.display()
            );
            Ok(())
        }
        other => runtime()?.block_on(run_async(other)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

async fn run_async(command: Command) -> Result<()> {
    match command {
        Command::Serve {
            addr,
            db,
            body_limit,
            files,
        } => {
            let store = open_store(&db.db).await?;
            let config = Config {
                body_limit_bytes: body_limit,
                vault: files.data.vault()?,
                base_data: files.data.settings()?,
                evaluation: files.evaluation()?,
                evidence_dir: Some(files.files),
                map_tile_url: files.tile_url,
                secure_cookies: files.secure_cookies,
                hotline_callback_url: files.hotline_callback_url,
                notice_webhook_url: files.notice_webhook_url,
                notice_webhook_secret: files.notice_webhook_secret,
                ..Config::default()
            };
            let state = AppState::load(store, config).await?;
            // The command-centre map's layers and open cases, read before the first visitor asks.
            wangge_server::console::map::warm_up(&state);
            wangge_server::ledger::warm_up(&state);
            wangge_server::serve(state, addr, |a| eprintln!("wangge serving on http://{a}/"))
                .await?;
            Ok(())
        }
        Command::Demo {
            addr,
            db,
            seed,
            grids,
            cases,
            files,
        } => {
            let store = open_store(&db.db).await?;
            eprintln!("preparing the demo city in {} …", db.db);
            let fresh = demo::seed(&store, grids, seed, cases).await?;
            if fresh {
                eprintln!("created a generated city of {grids} grids with {cases} sample cases");
            } else {
                eprintln!("the database already holds regions; serving it as it is");
            }
            let config = Config {
                vault: Some(files.data.demo_vault(&files.files)?),
                base_data: files.data.settings()?,
                evaluation: files.evaluation()?,
                evidence_dir: Some(files.files),
                map_tile_url: files.tile_url,
                secure_cookies: files.secure_cookies,
                hotline_callback_url: files.hotline_callback_url,
                notice_webhook_url: files.notice_webhook_url,
                notice_webhook_secret: files.notice_webhook_secret,
                ..Config::default()
            };
            let state = AppState::load(store, config).await?;
            if fresh {
                wangge::base_data::seed_demo(&state, grids, seed).await?;
                eprintln!(
                    "registered the demo city's houses, people, organisations and components"
                );
            }
            // The command-centre map's layers and open cases, read before the first visitor asks.
            wangge_server::console::map::warm_up(&state);
            wangge_server::ledger::warm_up(&state);
            wangge_server::serve(state, addr, |a| {
                eprintln!("\nwangge demo: open http://{a}/");
                eprintln!("demo logins (password '{}'):", demo::DEMO_PASSWORD);
                for (user, role) in demo::demo_usernames() {
                    eprintln!("  {user:<16} {}", role.zh());
                }
                eprintln!("stop with Ctrl-C");
            })
            .await?;
            Ok(())
        }
        Command::Import {
            what:
                ImportWhat::Base {
                    kind,
                    file,
                    district,
                    map,
                    sheet,
                    dry_run,
                    db,
                    data,
                },
        } => {
            let kind = wangge::base_data::parse_kind(&kind)?;
            let store = open_store(&db.db).await?;
            let config = Config {
                vault: data.vault()?,
                base_data: data.settings()?,
                ..Config::default()
            };
            let state = AppState::load(store, config).await?;
            let mapping = map
                .as_deref()
                .unwrap_or_default()
                .split(';')
                .filter(|p| !p.trim().is_empty())
                .map(|p| {
                    p.split_once(':')
                        .map(|(f, h)| (f.trim().to_owned(), h.trim().to_owned()))
                        .with_context(|| format!("--map: '{p}' must be field:Header"))
                })
                .collect::<Result<Vec<_>>>()?;
            let req = wangge_server::registry_import::ImportRequest {
                dry_run,
                sheet,
                mapping,
                district: Some(district),
            };
            let started = std::time::Instant::now();
            let report = wangge::base_data::import_file(
                &state,
                kind,
                &file,
                &req,
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
            )
            .await?;
            let secs = started.elapsed().as_secs_f64();
            for e in &report.errors {
                eprintln!(
                    "  row {}{}: {}",
                    e.row,
                    e.column
                        .as_deref()
                        .map(|c| format!(", column {c}"))
                        .unwrap_or_default(),
                    e.message
                );
            }
            if report.bad_rows > report.errors.len() {
                eprintln!("  … and more: {} bad rows in all", report.bad_rows);
            }
            eprintln!(
                "{} {} rows in {secs:.1} s ({:.0} rows/s): {} valid, {} bad; {} new, {} updated; {}",
                kind.as_str(),
                report.rows,
                report.rows as f64 / secs.max(1e-9),
                report.valid,
                report.bad_rows,
                report.created,
                report.updated,
                if report.stored {
                    "stored"
                } else if dry_run {
                    "dry run, nothing stored"
                } else {
                    "NOTHING stored"
                }
            );
            if report.bad_rows > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Import {
            what:
                ImportWhat::Regions {
                    file,
                    crs,
                    tolerance_m2,
                    dry_run,
                    db,
                },
        } => {
            let raw = read_region_file(&file)?;
            let (features, problems) = parse_features(raw, crs);
            let store = open_store(&db.db).await?;
            let options = ImportOptions {
                crs,
                tolerance_m2,
                dry_run,
                ..ImportOptions::default()
            };
            let report = import_regions(&store, features, problems, &options).await?;
            if !report.ok() {
                eprintln!(
                    "{} problem(s) in {}; nothing was stored:",
                    report.problems.len(),
                    file.display()
                );
                for p in &report.problems {
                    let at = p
                        .location
                        .map(|[x, y]| format!(" at ({x:.6}, {y:.6})"))
                        .unwrap_or_default();
                    let index = p
                        .index
                        .map(|i| format!("feature {i}"))
                        .unwrap_or_else(|| "existing region".into());
                    eprintln!(
                        "  {index} {} [{}]{at}: {}",
                        p.code.as_deref().unwrap_or("-"),
                        p.kind,
                        p.message
                    );
                }
                std::process::exit(1);
            }
            eprintln!(
                "{}{} features: {} new, {} changed (new version), {} unchanged, {} retired",
                if dry_run {
                    "dry run, nothing stored — "
                } else {
                    ""
                },
                report.features,
                report.inserted,
                report.changed,
                report.unchanged,
                report.retired
            );
            Ok(())
        }
        Command::Bench {
            what: BenchWhat::Hotline { db, tickets },
        } => wangge::bench_hotline::run(&db.db, tickets).await,
        Command::Bench {
            what: BenchWhat::Positions { db, positions },
        } => wangge::bench_patrol::run(&db.db, positions).await,
        Command::Migrate { db } => {
            let store = open_store(&db.db).await?;
            eprintln!("migrations applied ({})", store.backend_name());
            Ok(())
        }
        Command::Bench {
            what:
                BenchWhat::MapSeed {
                    db,
                    grids,
                    cases,
                    seed,
                },
        } => {
            let store = open_store(&db.db).await?;
            wangge::bench_map::seed_map_city(&store, grids, cases, seed, true).await?;
            Ok(())
        }
        Command::Bench {
            what:
                BenchWhat::Stats {
                    db,
                    cases,
                    grids,
                    seed,
                },
        } => {
            let store = open_store(&db.db).await?;
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let report = wangge::bench_stats::run(&store, cases, grids, seed, progress).await?;
            if let Some(s) = report.generate_seconds {
                eprintln!("bench stats: the year was generated in {s:.0} s");
            }
            println!("{} backend={}", report.summary(), store.backend_name());
            Ok(())
        }
        Command::Bench {
            what:
                BenchWhat::Base {
                    db,
                    grids,
                    houses,
                    people,
                    seed,
                    searches,
                    data_key,
                    with_count,
                },
        } => {
            let store = open_store(&db.db).await?;
            let opts = wangge::bench_base::BaseOptions {
                grids,
                houses,
                people,
                seed,
                searches,
                data_key,
                work_dir: std::env::temp_dir()
                    .join(format!("wangge-bench-base-{}", std::process::id())),
                verbose: std::env::var_os("WANGGE_BENCH_VERBOSE").is_some_and(|v| v != "0"),
                with_count,
            };
            let report = wangge::bench_base::run(&store, &opts).await?;
            for line in wangge::bench_base::lines(&report) {
                eprintln!("  {line}");
            }
            let db_mb: u64 = ["", "-wal"]
                .iter()
                .filter_map(|s| std::fs::metadata(format!("{}{s}", db.db)).ok())
                .map(|m| m.len())
                .sum::<u64>()
                / 1_000_000;
            if db_mb > 0 {
                eprintln!("  database file: {db_mb} MB");
            }
            println!("{} backend={}", report.summary(), store.backend_name());
            Ok(())
        }
        Command::Bench {
            what:
                BenchWhat::Loop {
                    url,
                    clients,
                    cases,
                    password,
                    ack_log,
                    timeout_s,
                    max_errors,
                },
        } => {
            let options = bench::LoopOptions {
                url,
                clients,
                cases,
                password,
                ack_log,
                request_timeout: std::time::Duration::from_secs(timeout_s.max(1)),
                max_errors,
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let report = bench::run_loop(&options).await?;
            for line in report.step_lines() {
                eprintln!("  {line}");
            }
            for e in &report.first_errors {
                eprintln!("error: {e}");
            }
            println!("{} clients={clients}", report.summary());
            if report.errors > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Ledger {
            what: LedgerWhat::Rebuild { db },
        } => {
            let store = open_store(&db.db).await?;
            let forgotten = wangge_store::Store::clear_ledger(&store).await?;
            eprintln!("ledger: {forgotten} records forgotten; remaking them from the timelines …");
            let state = AppState::load(store, Config::default()).await?;
            let started = std::time::Instant::now();
            let done = state
                .ledger
                .catch_up(&state)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            state
                .ledger
                .write_image(&state)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            println!(
                "ledger rebuilt: {} records made in {:.1} s",
                done.remade,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Check {
            what: CheckWhat::Timelines { db, acks },
        } => {
            let store = open_store(&db.db).await?;
            let state = AppState::load(store, Config::default()).await?;
            let report = check::check_timelines(&state, acks.as_deref()).await?;
            for p in &report.problems {
                eprintln!("  {p}");
            }
            println!("{}", report.summary(acks.is_some()));
            if !report.passed() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Generate { .. }
        | Command::Locate { .. }
        | Command::Match { .. }
        | Command::Bench {
            what: BenchWhat::Match { .. },
        } => unreachable_command(),
    }
}

fn unreachable_command() -> Result<()> {
    bail!("internal: command dispatched to the wrong runner")
}

async fn open_store(db: &str) -> Result<AnyStore> {
    AnyStore::open(db)
        .await
        .with_context(|| format!("cannot open the database {db}"))
}

fn read_region_file(path: &Path) -> Result<Vec<wangge_geo::io::RawFeature>> {
    let is_shp = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("shp"));
    let raw = if is_shp {
        wangge_geo::io::read_shapefile(path)
    } else {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        wangge_geo::io::read_geojson(&bytes)
    };
    raw.with_context(|| format!("cannot read {}", path.display()))
}

/// Builds an atlas from the grids of a regions file (WGS-84).
fn atlas_from_file(path: &Path) -> Result<Atlas> {
    let raw = read_region_file(path)?;
    let (features, problems) = parse_features(raw, Crs::Wgs84);
    if let Some(p) = problems.first() {
        bail!(
            "{}: {} problem(s), first at feature {}: {}",
            path.display(),
            problems.len(),
            p.index.map(|i| i.to_string()).unwrap_or_default(),
            p.message
        );
    }
    Ok(Atlas::new(
        features
            .into_iter()
            .map(|f| {
                let geometry = (f.level == Level::Grid).then_some(f.geometry);
                (
                    RegionInfo {
                        code: f.code,
                        name: f.name,
                        level: f.level,
                        parent_code: f.parent_code,
                        area_class: f.area_class,
                        area_m2: 0.0,
                    },
                    geometry,
                )
            })
            .collect(),
    ))
}

fn generate_city(grids: usize, seed: u64, houses: Option<usize>, out: &Path) -> Result<()> {
    let city = generate::generate_city(grids, seed);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join("regions.geojson");
    let file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let geometries: Vec<_> = city.regions.iter().map(|r| r.geometry()).collect();
    let features = city.regions.iter().zip(&geometries).map(|(r, g)| {
        let mut props = serde_json::Map::new();
        props.insert("code".into(), r.code.clone().into());
        props.insert("name".into(), r.name.clone().into());
        props.insert("level".into(), r.level.as_str().into());
        props.insert(
            "parent_code".into(),
            r.parent_code
                .clone()
                .map_or(serde_json::Value::Null, Into::into),
        );
        props.insert("area_class".into(), r.area_class.as_str().into());
        (props, g)
    });
    wangge_geo::io::write_geojson(std::io::BufWriter::new(file), features)?;
    eprintln!(
        "wrote {} regions ({} grids) to {}",
        city.regions.len(),
        city.of_level(Level::Grid).count(),
        path.display()
    );
    let houses = houses.unwrap_or(grids * wangge::generate_registry::DEMO_HOUSES_PER_GRID);
    if houses > 0 {
        let path = out.join("houses.csv");
        let n = wangge::generate_registry::write_houses_file(&city, houses, seed, &path)?;
        eprintln!("wrote {n} houses (rooms) to {}", path.display());
    }
    Ok(())
}
