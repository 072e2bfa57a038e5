//! The base-data benchmark (`wangge bench base`): a generated city's houses and people imported
//! district by district through the same code path as `wangge import base`, timed as rows/s,
//! then people searched over HTTP — partial name, masked identity number, last four of the
//! identity number and of the phone, the full identity number, address contains — as a district
//! user, a community user and the administrator (the whole city), timed as p50/p99 latency per
//! kind of search.
//!
//! The inputs of the searches are taken from the generated files, so they find people in the
//! searcher's jurisdiction (except the "no match" name, which finds nobody and so reads the
//! most).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use wangge_domain::registry::RecordKind;
use wangge_server::registry_import::{ImportRequest, import};
use wangge_server::{AppState, Config};
use wangge_store::vault::Vault;
use wangge_store::{AnyStore, Store};

use crate::base_data::{cli_reader, split_by_district};
use crate::generate_registry::{RegistryCounts, write_registry};

/// The key personal data is sealed with when none is given.
pub const DEFAULT_DATA_KEY: &str =
    "3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a";

#[derive(Debug, Clone)]
pub struct BaseOptions {
    pub grids: usize,
    pub houses: usize,
    pub people: usize,
    pub seed: u64,
    /// Searches per kind and user.
    pub searches: usize,
    /// 64 hex characters; [`DEFAULT_DATA_KEY`] when None.
    pub data_key: Option<String>,
    /// Where the generated files go (a scratch folder, removed afterwards).
    pub work_dir: PathBuf,
    pub verbose: bool,
    /// Ask for the total too (`count=true`), as the console's people list does.
    pub with_count: bool,
}

/// One kind's import over every district.
#[derive(Debug, Clone, Default)]
pub struct ImportFigures {
    pub rows: usize,
    pub districts: usize,
    pub seconds: f64,
    /// The largest district: rows and seconds.
    pub largest: (String, usize, f64),
}

impl ImportFigures {
    pub fn rows_per_s(&self) -> f64 {
        self.rows as f64 / self.seconds.max(1e-9)
    }
}

/// One kind of search as one user.
#[derive(Debug, Clone)]
pub struct SearchFigures {
    pub user: String,
    pub kind: &'static str,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_hits: f64,
    pub empty: usize,
    pub n: usize,
}

#[derive(Debug)]
pub struct BaseReport {
    pub houses: ImportFigures,
    pub people: ImportFigures,
    /// People stored in the database (all districts).
    pub people_stored: usize,
    /// Seconds to generate the city and seed it, and to write the files.
    pub seed_seconds: f64,
    pub generate_seconds: f64,
    pub searches: Vec<SearchFigures>,
    /// People in each searcher's jurisdiction (district, community).
    pub jurisdiction_people: Vec<(String, String, usize)>,
    /// Peak resident set after the imports and at the end, in MB (VmHWM).
    pub peak_mb_import: Option<f64>,
    pub peak_mb_end: Option<f64>,
    pub with_count: bool,
}

impl BaseReport {
    /// The worst p99 over every kind of search as the district user, and its kind.
    pub fn worst(&self, user: &str) -> Option<&SearchFigures> {
        self.searches
            .iter()
            .filter(|s| s.user == user)
            .max_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms))
    }

    pub fn summary(&self) -> String {
        let worst = |user: &str| {
            self.worst(user)
                .map(|w| format!("{:.1} ms ({})", w.p99_ms, w.kind))
                .unwrap_or_else(|| "-".into())
        };
        let imports = if self.people.rows + self.houses.rows == 0 {
            format!("no import ({} people there)", self.people_stored)
        } else {
            format!(
                "people import {:.0} rows/s ({} rows), houses import {:.0} rows/s ({} rows)",
                self.people.rows_per_s(),
                self.people.rows,
                self.houses.rows_per_s(),
                self.houses.rows,
            )
        };
        let users: Vec<String> = self
            .jurisdiction_people
            .iter()
            .map(|(user, _, n)| format!("{} as {user} ({n} people)", worst(user)))
            .collect();
        format!(
            "bench base: {imports}, search{} p99 of the worst kind: {}",
            if self.with_count { " with count" } else { "" },
            users.join(", ")
        )
    }
}

/// Who searches: a district's staff (the largest jurisdiction most users have), a community's
/// (what most users see) and the administrator (the whole city).
const SEARCHERS: [&str; 3] = ["demo-district", "demo-community", "demo-admin"];

/// Seeds the city and imports its base data if the database is empty (otherwise measures the
/// searches on what is there), then measures the searches.
pub async fn run(store: &AnyStore, opts: &BaseOptions) -> Result<BaseReport> {
    let key = opts.data_key.as_deref().unwrap_or(DEFAULT_DATA_KEY);
    let vault =
        Arc::new(Vault::from_key_text(key.trim()).map_err(|e| anyhow::anyhow!("data key: {e}"))?);
    let config = || Config {
        vault: Some(vault.clone()),
        ..Config::default()
    };

    let fresh = store.is_empty().await?;
    let started = Instant::now();
    if fresh && !crate::demo::seed(store, opts.grids, opts.seed, 0).await? {
        bail!("the database already holds regions");
    }
    let seed_seconds = started.elapsed().as_secs_f64();
    if !fresh {
        eprintln!("bench base: the database is not empty: no import, searches only");
    }

    // The files, generated again on every run (the same seed gives the same files) because
    // the searches take their inputs from them.
    let started = Instant::now();
    let city = crate::generate::generate_city(opts.grids, opts.seed);
    let counts = RegistryCounts {
        houses: opts.houses,
        people: opts.people,
        organisations: 0,
        components: 0,
    };
    let files = write_registry(&city, &counts, opts.seed, &opts.work_dir)?;
    drop(city);
    let generate_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "bench base: {} houses and {} people generated in {generate_seconds:.1} s{}",
        files.written.houses,
        files.written.people,
        if fresh {
            format!(" (city seeded in {seed_seconds:.1} s)")
        } else {
            String::new()
        }
    );

    let state = AppState::load(store.clone(), config()).await?;
    let (houses, people) = if fresh {
        let houses = import_kind(&state, RecordKind::House, &files.houses, opts.verbose).await?;
        let people = import_kind(&state, RecordKind::Person, &files.people, opts.verbose).await?;
        (houses, people)
    } else {
        (ImportFigures::default(), ImportFigures::default())
    };
    let peak_mb_import = peak_mb();
    drop(state);

    // The searches: a fresh server on the database, as after a restart.
    let data = SearchData::read(&files.houses, &files.people)?;
    let people_stored = wangge_store::registry::Registry::people(
        store,
        &wangge_store::registry::PeopleFilter {
            limit: 1,
            count: true,
            ..Default::default()
        },
    )
    .await?
    .1
    .unwrap_or(0) as usize;
    let state = AppState::load(store.clone(), config()).await?;
    let base = start_server(state).await?;
    let http = reqwest::Client::new();
    let mut searches = Vec::new();
    let mut jurisdiction_people = Vec::new();
    for user in SEARCHERS {
        let (token, region) = login(&http, &base, user).await?;
        let inputs = Inputs::of(&data, &region);
        let shown = if region.is_empty() {
            "the city"
        } else {
            &region
        };
        jurisdiction_people.push((user.to_owned(), shown.to_owned(), inputs.people.len()));
        eprintln!(
            "bench base: searching as {user} (region {shown}, {} people in it)",
            inputs.people.len()
        );
        if inputs.people.is_empty() {
            bail!("nobody lives in {user}'s region {region}: more people or grids needed");
        }
        let figures = measure(&http, &base, &token, user, &inputs, opts).await?;
        searches.extend(figures);
    }
    let _ = std::fs::remove_dir_all(&opts.work_dir);
    Ok(BaseReport {
        houses,
        people,
        people_stored,
        seed_seconds,
        generate_seconds,
        searches,
        jurisdiction_people,
        peak_mb_import,
        peak_mb_end: peak_mb(),
        with_count: opts.with_count,
    })
}

/// Imports every district's part of one file, each as `wangge import base` would (the whole
/// district's rows in one import); the time counted is that of the imports, not of splitting
/// the city's file.
async fn import_kind(
    state: &AppState,
    kind: RecordKind,
    path: &Path,
    verbose: bool,
) -> Result<ImportFigures> {
    let started = Instant::now();
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut parts: Vec<(String, Vec<u8>)> = split_by_district(&text, "house_code")?
        .into_iter()
        .collect();
    drop(text);
    parts.sort();
    if verbose {
        eprintln!(
            "bench base: {} split into {} districts in {:.1} s",
            path.display(),
            parts.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let mut figures = ImportFigures {
        districts: parts.len(),
        ..Default::default()
    };
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    for (district, csv) in parts {
        let req = ImportRequest {
            dry_run: false,
            district: Some(district.clone()),
            ..Default::default()
        };
        let progress: wangge_server::registry_import::OnProgress = if verbose {
            let district = district.clone();
            let began = Instant::now();
            Arc::new(move |p| {
                if p.done % 50_000 == 0 && p.done > 0 {
                    eprintln!(
                        "    {district}: {}/{} rows checked ({:.1} s)",
                        p.done,
                        p.total,
                        began.elapsed().as_secs_f64()
                    );
                }
            })
        } else {
            Arc::new(|_| {})
        };
        let began = Instant::now();
        let report = import(
            state,
            &cli_reader(),
            kind,
            csv,
            file_name.clone(),
            &req,
            progress,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
        let secs = began.elapsed().as_secs_f64();
        if !report.stored {
            bail!(
                "the {} of district {district} did not import: {} bad rows, first {:?}",
                kind.as_str(),
                report.bad_rows,
                report.errors.first()
            );
        }
        figures.rows += report.rows;
        figures.seconds += secs;
        if report.rows > figures.largest.1 {
            figures.largest = (district.clone(), report.rows, secs);
        }
        if verbose {
            eprintln!(
                "  {} {district}: {} rows in {secs:.2} s ({:.0} rows/s), peak RSS {}",
                kind.as_str(),
                report.rows,
                report.rows as f64 / secs.max(1e-9),
                peak_mb().map_or("?".into(), |m| format!("{m:.0} MB"))
            );
        }
    }
    eprintln!(
        "bench base: {} {} rows into {} districts in {:.1} s: {:.0} rows/s (largest district {} rows, {:.0} rows/s)",
        kind.as_str(),
        figures.rows,
        figures.districts,
        figures.seconds,
        figures.rows_per_s(),
        figures.largest.1,
        figures.largest.1 as f64 / figures.largest.2.max(1e-9)
    );
    Ok(figures)
}

/// The generated people (and their homes' addresses) searches pick their inputs from.
struct SearchData {
    people: Vec<PersonData>,
    /// house code → "road + number" (the compound's door, 人民路13号).
    doors: HashMap<String, String>,
    /// How often each character occurs in all names.
    char_counts: HashMap<char, usize>,
}

struct PersonData {
    name: String,
    identity: String,
    phone: String,
    house: String,
}

impl SearchData {
    fn read(houses: &Path, people: &Path) -> Result<SearchData> {
        let mut doors = HashMap::new();
        let mut r = csv::Reader::from_path(houses)?;
        let h = r.headers()?.clone();
        let col = |name: &str| {
            h.iter()
                .position(|c| c.trim_start_matches('\u{feff}') == name)
                .with_context(|| format!("houses.csv has no {name}"))
        };
        let (code, road, number) = (col("house_code")?, col("road")?, col("number")?);
        for rec in r.records() {
            let rec = rec?;
            let (Some(c), Some(ro), Some(n)) = (rec.get(code), rec.get(road), rec.get(number))
            else {
                continue;
            };
            if !ro.is_empty() && !n.is_empty() {
                doors.insert(c.to_owned(), format!("{ro}{n}号"));
            }
        }
        let mut out = Vec::new();
        let mut char_counts = HashMap::new();
        let mut r = csv::Reader::from_path(people)?;
        let h = r.headers()?.clone();
        let col = |name: &str| {
            h.iter()
                .position(|c| c.trim_start_matches('\u{feff}') == name)
                .with_context(|| format!("people.csv has no {name}"))
        };
        let (id, name, phone, house) = (
            col("identity_number")?,
            col("name")?,
            col("phone")?,
            col("house_code")?,
        );
        for rec in r.records() {
            let rec = rec?;
            let get = |i: usize| rec.get(i).unwrap_or_default().to_owned();
            let p = PersonData {
                name: get(name),
                identity: get(id),
                phone: get(phone),
                house: get(house),
            };
            for c in p.name.chars() {
                *char_counts.entry(c).or_insert(0) += 1;
            }
            out.push(p);
        }
        Ok(SearchData {
            people: out,
            doors,
            char_counts,
        })
    }
}

/// The inputs for one searcher: the people of their region.
struct Inputs<'a> {
    people: Vec<&'a PersonData>,
    doors: &'a HashMap<String, String>,
    /// The least common characters of the names in the region (by their count in the city).
    rare: Vec<char>,
}

impl<'a> Inputs<'a> {
    fn of(data: &'a SearchData, region: &str) -> Inputs<'a> {
        let people: Vec<&PersonData> = data
            .people
            .iter()
            .filter(|p| p.house.starts_with(region))
            .collect();
        let mut chars: Vec<char> = people.iter().flat_map(|p| p.name.chars()).collect();
        chars.sort_unstable();
        chars.dedup();
        chars.sort_by_key(|c| (data.char_counts.get(c).copied().unwrap_or(0), *c));
        let tenth = (chars.len() / 10).max(1).min(chars.len());
        Inputs {
            people,
            doors: &data.doors,
            rare: chars[..tenth].to_vec(),
        }
    }
}

/// The kinds of search, each with the query it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Surname and the first given-name character of someone in the region (王伟).
    NameTwo,
    /// One given-name character of someone in the region.
    NameOne,
    /// One of the least common characters of the region's names (诸葛, 上官 …).
    NameRare,
    /// A name nobody has: every person of the region is read.
    NameNone,
    IdMasked,
    IdTail,
    PhoneTail,
    IdFull,
    /// Road and door number of someone's home (人民路13号).
    Address,
}

const KINDS: [Kind; 9] = [
    Kind::NameTwo,
    Kind::NameOne,
    Kind::NameRare,
    Kind::NameNone,
    Kind::IdMasked,
    Kind::IdTail,
    Kind::PhoneTail,
    Kind::IdFull,
    Kind::Address,
];

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::NameTwo => "name: surname + given char",
            Kind::NameOne => "name: one given char",
            Kind::NameRare => "name: rare char",
            Kind::NameNone => "name: no match",
            Kind::IdMasked => "identity masked 1234**********5678",
            Kind::IdTail => "identity last four",
            Kind::PhoneTail => "phone last four",
            Kind::IdFull => "identity full",
            Kind::Address => "address contains (road + number)",
        }
    }

    /// The query parameter and its value for a random input.
    fn query(self, inputs: &Inputs<'_>, rng: &mut ChaCha8Rng) -> (&'static str, String) {
        let p = inputs.people[rng.random_range(0..inputs.people.len())];
        let given = || {
            let chars: Vec<char> = p.name.chars().collect();
            chars[1.min(chars.len().saturating_sub(1))..].to_vec()
        };
        match self {
            Kind::NameTwo => ("name", p.name.chars().take(2).collect()),
            Kind::NameOne => {
                let g = given();
                ("name", g[rng.random_range(0..g.len())].to_string())
            }
            Kind::NameRare => (
                "name",
                inputs.rare[rng.random_range(0..inputs.rare.len())].to_string(),
            ),
            Kind::NameNone => {
                // Characters the generator never uses in names.
                const ABSENT: [&str; 6] = ["鹫", "鼋", "夔", "饕", "黉", "鬯"];
                ("name", ABSENT[rng.random_range(0..ABSENT.len())].to_owned())
            }
            Kind::IdMasked => {
                let id = &p.identity;
                (
                    "identity_number",
                    format!("{}{}{}", &id[..4], "*".repeat(10), &id[id.len() - 4..]),
                )
            }
            Kind::IdTail => (
                "identity_number",
                p.identity[p.identity.len() - 4..].to_owned(),
            ),
            Kind::PhoneTail => (
                "phone",
                p.phone[p.phone.len().saturating_sub(4)..].to_owned(),
            ),
            Kind::IdFull => ("identity_number", p.identity.clone()),
            Kind::Address => (
                "address",
                inputs
                    .doors
                    .get(&p.house)
                    .cloned()
                    .unwrap_or_else(|| p.house.clone()),
            ),
        }
    }
}

/// Every kind of search `opts.searches` times, in turns (one request at a time, as one user
/// at a desk), with a short untimed warm-up.
async fn measure(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    user: &str,
    inputs: &Inputs<'_>,
    opts: &BaseOptions,
) -> Result<Vec<SearchFigures>> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x6261_7365);
    let url = format!("{base}/api/v1/people");
    for kind in KINDS {
        let (param, value) = kind.query(inputs, &mut rng);
        search(http, &url, token, param, &value, opts.with_count).await?;
    }
    let mut times: Vec<Vec<u64>> = vec![Vec::with_capacity(opts.searches); KINDS.len()];
    let mut hits = vec![(0usize, 0usize); KINDS.len()];
    for _ in 0..opts.searches {
        for (k, kind) in KINDS.iter().enumerate() {
            let (param, value) = kind.query(inputs, &mut rng);
            let began = Instant::now();
            let n = search(http, &url, token, param, &value, opts.with_count).await?;
            times[k].push(began.elapsed().as_micros() as u64);
            hits[k].0 += n;
            if n == 0 {
                hits[k].1 += 1;
                if matches!(kind, Kind::IdFull | Kind::IdMasked) {
                    bail!("{user}: {param}={value} found nobody, though the person is there");
                }
            }
        }
    }
    let mut out = Vec::new();
    for (k, kind) in KINDS.iter().enumerate() {
        let mut t = std::mem::take(&mut times[k]);
        t.sort_unstable();
        let ms = |q: f64| percentile(&t, q) as f64 / 1000.0;
        let f = SearchFigures {
            user: user.to_owned(),
            kind: kind.label(),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            max_ms: t.last().copied().unwrap_or(0) as f64 / 1000.0,
            mean_hits: hits[k].0 as f64 / t.len().max(1) as f64,
            empty: hits[k].1,
            n: t.len(),
        };
        out.push(f);
    }
    Ok(out)
}

/// One search (the first page, 50 people, as the API answers by default; with the total when
/// `with_count`); answers the number of people on it.
async fn search(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    param: &str,
    value: &str,
    with_count: bool,
) -> Result<usize> {
    #[derive(serde::Deserialize)]
    struct Page {
        items: Vec<serde::de::IgnoredAny>,
    }
    let page: Page = http
        .get(url)
        .query(&[(param, value)])
        .query(&[("count", if with_count { "true" } else { "false" })])
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()
        .with_context(|| format!("GET /people?{param}={value}"))?
        .json()
        .await?;
    Ok(page.items.len())
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn start_server(state: AppState) -> Result<String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let any: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        let _ = wangge_server::serve(state, any, move |addr| {
            let _ = tx.send(addr);
        })
        .await;
    });
    let addr = rx.await.context("the benchmark's server did not start")?;
    Ok(format!("http://{addr}"))
}

/// Signs a demo user in; answers the token and the user's region ("" for the whole city).
async fn login(http: &reqwest::Client, base: &str, user: &str) -> Result<(String, String)> {
    let answer: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": crate::demo::DEMO_PASSWORD}))
        .send()
        .await?
        .error_for_status()
        .with_context(|| format!("signing in as {user}"))?
        .json()
        .await?;
    let token = answer["token"]
        .as_str()
        .context("login answered no token")?
        .to_owned();
    let region = answer["user"]["region_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok((token, region))
}

/// The process's peak resident set (VmHWM), in MB.
pub fn peak_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The report as lines: imports, then one line per user and kind of search.
pub fn lines(r: &BaseReport) -> Vec<String> {
    let mut out = Vec::new();
    for (what, f) in [("houses", &r.houses), ("people", &r.people)] {
        if f.rows > 0 {
            out.push(format!(
                "import {what}: {} rows, {} districts, {:.1} s, {:.0} rows/s (largest district {}: {} rows, {:.0} rows/s)",
                f.rows,
                f.districts,
                f.seconds,
                f.rows_per_s(),
                f.largest.0,
                f.largest.1,
                f.largest.1 as f64 / f.largest.2.max(1e-9)
            ));
        }
    }
    out.push(format!("people stored: {}", r.people_stored));
    for (user, region, n) in &r.jurisdiction_people {
        out.push(format!(
            "search as {user} (region {region}, {n} people), {} searches per kind{}:",
            r.searches
                .iter()
                .find(|s| &s.user == user)
                .map_or(0, |s| s.n),
            if r.with_count {
                ", with count=true"
            } else {
                ""
            }
        ));
        for s in r.searches.iter().filter(|s| &s.user == user) {
            out.push(format!(
                "  {:<36} p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  hits/search {:>5.1}  none {:>3}",
                s.kind, s.p50_ms, s.p99_ms, s.max_ms, s.mean_hits, s.empty
            ));
        }
    }
    if let Some(m) = r.peak_mb_import {
        out.push(format!("peak RSS after the imports: {m:.0} MB"));
    }
    if let Some(m) = r.peak_mb_end {
        out.push(format!("peak RSS at the end: {m:.0} MB"));
    }
    out
}
