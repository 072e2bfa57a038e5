//! `wangge bench loop`: full case lifecycles driven over HTTP against a running server, for
//! throughput and latency figures and for the crash test (`--ack-log`).
//!
//! Each client logs in the demo users it needs, then loops: a grid worker reports a patrol case
//! in their own grid, the receiver registers it, the dispatcher dispatches it to the demo unit,
//! the unit accepts and handles it, the worker passes the check and the shift leader closes it.
//! Every 2xx answer to the report or an action is one transition.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// The server, e.g. `http://127.0.0.1:8080` (no trailing path).
    pub url: String,
    /// Concurrent clients (tokio tasks sharing one connection pool).
    pub clients: usize,
    /// Cases to run through the loop, in total.
    pub cases: usize,
    pub password: String,
    /// Append `case_id,version,action` for every acknowledged transition.
    pub ack_log: Option<PathBuf>,
    /// Give up on a request after this long (counted as an error).
    pub request_timeout: Duration,
    /// Stop starting new cases after this many errors (0: never stop early).
    pub max_errors: u64,
    /// Show a progress bar.
    pub progress: bool,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct LoopReport {
    pub transitions: u64,
    pub errors: u64,
    /// Cases that reached `closed`.
    pub closed: u64,
    pub seconds: f64,
    /// Latency of every request of the loop (successful or not), sorted, in microseconds.
    pub latencies_us: Vec<u64>,
    /// The same per step of the loop ([`STEPS`] order), each sorted.
    pub step_latencies_us: Vec<Vec<u64>>,
    /// The first few error answers.
    pub first_errors: Vec<String>,
}

impl LoopReport {
    /// The latency below which `q` (0..=1) of the requests answered, in milliseconds.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        percentile(&self.latencies_us, q) as f64 / 1000.0
    }

    pub fn transitions_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.transitions as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// One line per step of the loop: requests, p50 and p99.
    pub fn step_lines(&self) -> Vec<String> {
        STEPS
            .iter()
            .zip(&self.step_latencies_us)
            .filter(|(_, l)| !l.is_empty())
            .map(|(name, l)| {
                format!(
                    "{name:<10} requests={:<7} p50_ms={:.2} p99_ms={:.2}",
                    l.len(),
                    percentile(l, 0.50) as f64 / 1000.0,
                    percentile(l, 0.99) as f64 / 1000.0
                )
            })
            .collect()
    }

    /// The one summary line.
    pub fn summary(&self) -> String {
        format!(
            "transitions={} seconds={:.2} transitions_per_s={:.0} p50_ms={:.2} p99_ms={:.2} errors={} cases_closed={}",
            self.transitions,
            self.seconds,
            self.transitions_per_s(),
            self.percentile_ms(0.50),
            self.percentile_ms(0.99),
            self.errors,
            self.closed
        )
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

const FIRST_ERRORS: usize = 5;

/// The steps of one case, in order: the report and the six actions.
pub const STEPS: [&str; 7] = [
    "report",
    "register",
    "dispatch",
    "accept",
    "handle",
    "check_pass",
    "close",
];

/// Request latencies (µs) of one client, per step.
type Latencies = Vec<Vec<u64>>;

/// Shared by all clients.
struct Shared {
    http: reqwest::Client,
    base: String,
    /// Next case number to run.
    next_case: AtomicUsize,
    cases: usize,
    transitions: AtomicU64,
    errors: AtomicU64,
    closed: AtomicU64,
    max_errors: u64,
    first_errors: Mutex<Vec<String>>,
    acks: Option<Mutex<std::io::LineWriter<std::fs::File>>>,
    bar: indicatif::ProgressBar,
    /// Where reports go and whom to dispatch to.
    point: (f64, f64),
    unit: String,
}

impl Shared {
    fn error(&self, what: String) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed);
        if (n as usize) < FIRST_ERRORS {
            let mut first = self.first_errors.lock().unwrap_or_else(|p| p.into_inner());
            first.push(what);
        }
    }

    fn stopping(&self) -> bool {
        self.max_errors > 0 && self.errors.load(Ordering::Relaxed) >= self.max_errors
    }

    /// Records an acknowledged transition; only called after its 2xx answer arrived.
    fn ack(&self, id: &str, version: i64, action: &str) {
        self.transitions.fetch_add(1, Ordering::Relaxed);
        if let Some(acks) = &self.acks {
            let mut w = acks.lock().unwrap_or_else(|p| p.into_inner());
            // A LineWriter hands each whole line to the OS at once: the line is on file even if
            // this process is killed right after.
            if let Err(e) = writeln!(w, "{id},{version},{action}") {
                drop(w);
                self.error(format!("cannot write the ack log: {e}"));
            }
        }
    }
}

/// The tokens of one client.
struct Tokens {
    worker: String,
    receiver: String,
    dispatcher: String,
    unit: String,
    leader: String,
}

async fn login(http: &reqwest::Client, base: &str, user: &str, password: &str) -> Result<String> {
    let resp = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .with_context(|| format!("cannot reach {base} to sign in {user}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("signing in {user} answered {status}: {body}");
    }
    body["token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("signing in {user}: no token in {body}"))
}

async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> Result<Value> {
    let resp = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("GET {url} answered {status}: {body}");
    }
    Ok(body)
}

/// The outer ring of a GeoJSON Polygon or the first polygon of a MultiPolygon.
fn outer_ring(geometry: &Value) -> Option<Vec<(f64, f64)>> {
    let coords = &geometry["coordinates"];
    let ring = match geometry["type"].as_str()? {
        "Polygon" => &coords[0],
        "MultiPolygon" => &coords[0][0],
        _ => return None,
    };
    let mut points: Vec<(f64, f64)> = ring
        .as_array()?
        .iter()
        .filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?)))
        .collect();
    if points.len() > 1 && points.first() == points.last() {
        points.pop();
    }
    (!points.is_empty()).then_some(points)
}

/// A point inside `grid`: the average of its outer ring's vertices, or failing that a point
/// between it and a vertex, each checked with `GET /api/v1/locate`.
async fn point_in_grid(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    grid: &str,
) -> Result<(f64, f64)> {
    let region = get_json(http, &format!("{base}/api/v1/regions/{grid}"), token).await?;
    let ring = outer_ring(&region["geometry"])
        .with_context(|| format!("region {grid} has no polygon geometry"))?;
    let n = ring.len() as f64;
    let centre = (
        ring.iter().map(|p| p.0).sum::<f64>() / n,
        ring.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let candidates = std::iter::once(centre).chain(
        ring.iter()
            .map(|v| ((centre.0 + v.0) / 2.0, (centre.1 + v.1) / 2.0)),
    );
    for (lon, lat) in candidates {
        let url = format!("{base}/api/v1/locate?lon={lon}&lat={lat}");
        let Ok(answer) = get_json(http, &url, token).await else {
            continue;
        };
        if answer["grid"]["code"].as_str() == Some(grid) {
            return Ok((lon, lat));
        }
    }
    bail!("found no point inside grid {grid}")
}

/// Runs the benchmark. Errors only for problems before the loop starts (cannot sign in, no
/// grid); errors of the loop are counted in the report.
pub async fn run_loop(opts: &LoopOptions) -> Result<LoopReport> {
    if opts.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let base = opts.url.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(opts.clients.max(1))
        .timeout(opts.request_timeout)
        .tcp_nodelay(true)
        .build()
        .context("cannot build the HTTP client")?;

    // Who the users are: the worker's grid, the unit's code.
    let worker = login(&http, &base, "demo-worker", &opts.password).await?;
    let unit_user = login(&http, &base, "demo-unit", &opts.password).await?;
    let me_worker = get_json(&http, &format!("{base}/api/v1/auth/me"), &worker).await?;
    let me_unit = get_json(&http, &format!("{base}/api/v1/auth/me"), &unit_user).await?;
    let grid = me_worker["region_code"]
        .as_str()
        .with_context(|| format!("demo-worker has no region: {me_worker}"))?
        .to_owned();
    let unit = me_unit["unit_code"]
        .as_str()
        .with_context(|| format!("demo-unit has no unit: {me_unit}"))?
        .to_owned();
    let point = point_in_grid(&http, &base, &worker, &grid).await?;

    let acks = match &opts.ack_log {
        Some(path) => Some(Mutex::new(std::io::LineWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open the ack log {}", path.display()))?,
        ))),
        None => None,
    };
    let bar = if opts.progress {
        indicatif::ProgressBar::new(opts.cases as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} cases [{bar:40}] {pos}/{len} {per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let shared = Arc::new(Shared {
        http,
        base,
        next_case: AtomicUsize::new(0),
        cases: opts.cases,
        transitions: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        closed: AtomicU64::new(0),
        max_errors: opts.max_errors,
        first_errors: Mutex::new(Vec::new()),
        acks,
        bar,
        point,
        unit,
    });

    // Every client signs in its own users (not timed), two at a time: each sign-in is an
    // argon2 verification of 19 MiB on the server.
    let mut sign_ins = tokio::task::JoinSet::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(2));
    for _ in 0..opts.clients {
        let shared = shared.clone();
        let password = opts.password.clone();
        let gate = gate.clone();
        sign_ins.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let (h, b) = (&shared.http, shared.base.as_str());
            anyhow::Ok(Tokens {
                worker: login(h, b, "demo-worker", &password).await?,
                receiver: login(h, b, "demo-receiver", &password).await?,
                dispatcher: login(h, b, "demo-dispatcher", &password).await?,
                unit: login(h, b, "demo-unit", &password).await?,
                leader: login(h, b, "demo-leader", &password).await?,
            })
        });
    }
    let mut tokens = Vec::with_capacity(opts.clients);
    while let Some(t) = sign_ins.join_next().await {
        tokens.push(t.context("a sign-in task failed")??);
    }

    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for t in tokens {
        let shared = shared.clone();
        clients.spawn(async move { client(&shared, &t).await });
    }
    let mut steps: Latencies = vec![Vec::new(); STEPS.len()];
    while let Some(l) = clients.join_next().await {
        for (all, mine) in steps.iter_mut().zip(l.context("a client task failed")?) {
            all.extend(mine);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    shared.bar.finish_and_clear();
    if let Some(acks) = &shared.acks {
        let mut w = acks.lock().unwrap_or_else(|p| p.into_inner());
        w.flush().context("cannot flush the ack log")?;
    }
    let mut latencies: Vec<u64> = steps.iter().flatten().copied().collect();
    latencies.sort_unstable();
    for l in &mut steps {
        l.sort_unstable();
    }
    let first_errors = shared
        .first_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(LoopReport {
        transitions: shared.transitions.load(Ordering::Relaxed),
        errors: shared.errors.load(Ordering::Relaxed),
        closed: shared.closed.load(Ordering::Relaxed),
        seconds,
        latencies_us: latencies,
        step_latencies_us: steps,
        first_errors,
    })
}

/// One client: takes case numbers until all are done; answers its request latencies.
async fn client(shared: &Shared, t: &Tokens) -> Latencies {
    let mut latencies: Latencies = vec![Vec::new(); STEPS.len()];
    loop {
        if shared.stopping() {
            break;
        }
        let n = shared.next_case.fetch_add(1, Ordering::Relaxed);
        if n >= shared.cases {
            break;
        }
        if one_case(shared, t, n, &mut latencies).await {
            shared.closed.fetch_add(1, Ordering::Relaxed);
        }
        shared.bar.inc(1);
    }
    latencies
}

/// A request of the loop; `None` after an error (counted and recorded).
async fn send(
    shared: &Shared,
    latencies: &mut Vec<u64>,
    token: &str,
    path: &str,
    body: &Value,
) -> Option<Value> {
    let url = format!("{}{path}", shared.base);
    let started = Instant::now();
    let result = async {
        let resp = shared
            .http
            .post(&url)
            .bearer_auth(token)
            .json(body)
            .send()
            .await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        Ok::<_, reqwest::Error>((status, bytes))
    }
    .await;
    latencies.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
    match result {
        Ok((status, bytes)) if status.is_success() => match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                shared.error(format!("POST {path}: {status} with unreadable JSON: {e}"));
                None
            }
        },
        Ok((status, bytes)) => {
            shared.error(format!(
                "POST {path} {body}: {status} {}",
                String::from_utf8_lossy(&bytes)
            ));
            None
        }
        Err(e) => {
            shared.error(format!("POST {path}: {e}"));
            None
        }
    }
}

/// One case from report to close; true when it was closed.
async fn one_case(shared: &Shared, t: &Tokens, n: usize, latencies: &mut Latencies) -> bool {
    let (lon, lat) = shared.point;
    let report = json!({
        "category": "09001",
        "description": format!("压测案件 {n}：井盖缺失"),
        "lon": lon,
        "lat": lat,
        "source": "patrol",
    });
    let Some(case) = send(
        shared,
        &mut latencies[0],
        &t.worker,
        "/api/v1/cases",
        &report,
    )
    .await
    else {
        return false;
    };
    let (Some(id), Some(mut version)) = (
        case["id"].as_str().map(str::to_owned),
        case["version"].as_i64(),
    ) else {
        shared.error(format!("the new case has no id or version: {case}"));
        return false;
    };
    shared.ack(&id, version, "report");
    let path = format!("/api/v1/cases/{id}/actions");
    let steps: [(&str, Value); 6] = [
        (&t.receiver, json!({"action": "register"})),
        (
            &t.dispatcher,
            json!({"action": "dispatch", "unit": shared.unit}),
        ),
        (&t.unit, json!({"action": "accept"})),
        (&t.unit, json!({"action": "handle", "note": "已处置"})),
        (&t.worker, json!({"action": "check_pass"})),
        (&t.leader, json!({"action": "close"})),
    ];
    let mut state = case["state"].as_str().unwrap_or_default().to_owned();
    for (i, (token, mut command)) in steps.into_iter().enumerate() {
        let action = command["action"].as_str().unwrap_or_default().to_owned();
        // An automatic follow-up (auto-dispatch, auto-close) may have done this step already.
        if (action == "dispatch" && state == "dispatched")
            || (action == "close" && state == "closed")
        {
            continue;
        }
        command["version"] = json!(version);
        let Some(answer) = send(shared, &mut latencies[i + 1], token, &path, &command).await else {
            return false;
        };
        // The acted-on version + 1 is this action's event; the answer may be later still when
        // an automatic follow-up ran right after.
        shared.ack(&id, version + 1, &action);
        let Some(v) = answer["version"].as_i64() else {
            shared.error(format!("{action} answered no version: {answer}"));
            return false;
        };
        version = v;
        state = answer["state"].as_str().unwrap_or_default().to_owned();
    }
    state == "closed"
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// The whole path of the crash test, without the crash: a served demo city, the loop with an
    /// ack log, then `check timelines --acks`; a forged ack is caught.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn loop_then_check_every_ack() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loop.db");
        let store = wangge_store::AnyStore::open(path.to_str().unwrap())
            .await
            .unwrap();
        crate::demo::seed(&store, 120, 7, 0).await.unwrap();
        let state = wangge_server::AppState::load(store, wangge_server::Config::default())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = wangge_server::app(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let acks = dir.path().join("acks.csv");
        let report = run_loop(&LoopOptions {
            url: format!("http://{addr}/"),
            clients: 3,
            cases: 10,
            password: "demo".into(),
            ack_log: Some(acks.clone()),
            request_timeout: Duration::from_secs(30),
            max_errors: 0,
            progress: false,
        })
        .await
        .unwrap();
        assert_eq!(report.errors, 0, "{:?}", report.first_errors);
        assert_eq!((report.transitions, report.closed), (70, 10));
        assert_eq!(report.latencies_us.len(), 70);
        assert!(report.summary().starts_with("transitions=70 seconds="));

        let check = crate::check::check_timelines(&state, Some(&acks))
            .await
            .unwrap();
        assert!(check.passed(), "{:?}", check.problems);
        assert_eq!((check.cases, check.ok, check.acks), (10, 10, 70));

        let text = std::fs::read_to_string(&acks).unwrap();
        let id = text.lines().next().unwrap().split(',').next().unwrap();
        std::fs::write(&acks, format!("{text}{id},99,close\n")).unwrap();
        let check = crate::check::check_timelines(&state, Some(&acks))
            .await
            .unwrap();
        assert_eq!((check.acks, check.acks_missing), (71, 1));
        assert!(!check.passed());
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(percentile(&[7], 0.99), 7);
    }

    #[test]
    fn outer_rings() {
        let p = json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]});
        assert_eq!(
            outer_ring(&p),
            Some(vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)])
        );
        let m = json!({"type": "MultiPolygon", "coordinates": [[[[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [0.0, 0.0]]]]});
        assert_eq!(outer_ring(&m).map(|r| r.len()), Some(3));
        assert_eq!(outer_ring(&json!({"type": "Point"})), None);
    }
}
