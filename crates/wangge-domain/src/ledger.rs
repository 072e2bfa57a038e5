//! The evaluation ledger (考核台账): every case's node spans kept in a compact form, so the
//! indicators of a whole year are counted in memory without replaying a single timeline.
//!
//! A case's entry is made from its `CaseRecord` (the replay of its timeline, `evaluation::
//! node_spans`) when it changes, and stored beside the case as a small binary record
//! (`encode`), so a restarted server reads the ledger back instead of replaying millions of
//! timelines. Names (grid codes, units, people, subcategories) are interned once; times are
//! seconds since 2000 in a `u32`. A year of a big district (1.6 M cases, ~10 M spans) takes a
//! few hundred megabytes.
//!
//! The counting rules are those of `docs/indicators.md`; the figures they give are checked
//! against hand-built timelines in `evaluation`'s tests.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use crate::case::Source;
use crate::case_clock::Node;
use crate::case_loop::ActionName;
use crate::evaluation::{
    AreaTally, CaseRecord, GridDuty, Hotspot, MissedRule, Period, PersonTally, UnitTally, code_len,
    hotspots, level_index,
};
use crate::region::Level;
use crate::role::Role;

/// Seconds since 2000-01-01T00:00:00Z; `NONE` for "not yet".
type Secs = u32;
const NONE: Secs = u32::MAX;
const EPOCH: i64 = 946_684_800;

fn secs(t: DateTime<Utc>) -> Secs {
    (t.timestamp() - EPOCH).clamp(0, i64::from(NONE) - 1) as Secs
}

fn opt_secs(t: Option<DateTime<Utc>>) -> Secs {
    t.map_or(NONE, secs)
}

/// An interned name; 0 is "none".
type Sym = u32;

const NODES: [Node; 6] = [
    Node::Confirm,
    Node::Register,
    Node::Dispatch,
    Node::Handle,
    Node::Check,
    Node::Close,
];
const LEVELS: [Level; 5] = [
    Level::City,
    Level::District,
    Level::Street,
    Level::Community,
    Level::Grid,
];

#[derive(Debug, Clone, Copy)]
struct Span {
    node: Node,
    action: Option<ActionName>,
    unit: Sym,
    actor: Sym,
    started: Secs,
    ended: Secs,
    due: Secs,
    working: u32,
}

impl Span {
    fn on_time(&self) -> bool {
        self.ended != NONE && self.due != NONE && self.ended <= self.due
    }

    fn ended_with(&self, action: ActionName) -> bool {
        self.ended != NONE && self.action == Some(action)
    }
}

#[derive(Debug, Clone)]
struct Entry {
    version: i64,
    grid: Sym,
    category: Sym,
    reporter: Sym,
    source: Source,
    reported: Secs,
    registered: Secs,
    closed: Secs,
    /// When the case last moved from node to node; `NONE` while a node is open. A case whose
    /// last move came before a period began counts in nothing of it.
    last: Secs,
    merged: bool,
    solved: Option<Level>,
    lon: f32,
    lat: f32,
    parts: Box<[Sym]>,
    spans: Box<[Span]>,
}

/// A half-open window `[from, to)` in ledger seconds.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: Secs,
    to: Secs,
}

impl Window {
    /// The ledger counts whole seconds: a bound inside a second widens the window to it, so a
    /// window never closes up.
    fn of(p: Period) -> Self {
        let to = secs(p.to);
        let part = p.to.timestamp_subsec_nanos() > 0;
        Window {
            from: secs(p.from),
            to: if part {
                to.saturating_add(1).min(NONE - 1)
            } else {
                to
            },
        }
    }

    fn contains(&self, t: Secs) -> bool {
        t != NONE && self.from <= t && t < self.to
    }
}

/// Whose cases are counted: everyone's, a region's (grid code prefix) or a unit's (the cases it
/// handled or was named in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    All,
    Region(&'a str),
    Unit(&'a str),
}

/// A stored ledger record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ledger record: {0}")]
pub struct LedgerError(pub &'static str);

/// One day's counts of the trend (`Ledger::trend`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayCounts {
    pub reported: u64,
    pub registered: u64,
    pub closed: u64,
    pub handled: u64,
    pub handled_on_time: u64,
}

/// A fast hasher for the ledger's own maps (names, case ids, cells): their keys are not chosen
/// by an attacker, and loading a year interns tens of millions of names (the multiply-rotate of
/// rustc's FxHasher).
#[derive(Debug, Default, Clone, Copy)]
struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_i64(&mut self, n: i64) {
        self.add(n as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

impl Fx {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

#[derive(Debug, Default)]
struct Names {
    list: Vec<Box<str>>,
    ids: FxMap<Box<str>, Sym>,
}

impl Names {
    fn new() -> Self {
        let mut names = Names::default();
        names.intern("");
        names
    }

    fn intern(&mut self, name: &str) -> Sym {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.list.len() as Sym;
        self.list.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    fn get(&self, name: &str) -> Option<Sym> {
        self.ids.get(name).copied()
    }

    fn name(&self, id: Sym) -> &str {
        self.list.get(id as usize).map_or("", |s| s)
    }
}

/// Every case's spans, by case id.
#[derive(Debug)]
pub struct Ledger {
    names: Names,
    entries: Vec<Entry>,
    slots: FxMap<Uuid, usize>,
    /// Bumped by every change, so answers computed from the ledger can be kept until it moves.
    generation: u64,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            names: Names::new(),
            entries: Vec::new(),
            slots: FxMap::default(),
            generation: 0,
        }
    }
}

impl Ledger {
    pub fn new() -> Self {
        Ledger::default()
    }

    /// A ledger of the given records (tests and tools), with made-up ids.
    pub fn of(records: &[CaseRecord]) -> Self {
        let mut ledger = Ledger::new();
        for (i, r) in records.iter().enumerate() {
            ledger.put(Uuid::from_u128(i as u128 + 1), 1, r);
        }
        ledger
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Orders the entries by grid. A summary then counts one grid's cases one after another, so
    /// the counts of the grid and of its grid worker stay in the processor's cache instead of
    /// being fetched from memory for every case (the year's counting runs several times
    /// faster). Worth calling after a bulk load; entries added later go at the end.
    pub fn sort_by_grid(&mut self) {
        let mut ids = vec![Uuid::nil(); self.entries.len()];
        for (id, &i) in &self.slots {
            ids[i] = *id;
        }
        let mut order: Vec<(Sym, u32, usize)> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.grid, e.reported, i))
            .collect();
        order.sort_unstable();
        let mut old: Vec<Option<Entry>> = std::mem::take(&mut self.entries)
            .into_iter()
            .map(Some)
            .collect();
        self.entries = Vec::with_capacity(old.len());
        self.slots.clear();
        for (_, _, i) in order {
            if let Some(e) = old[i].take() {
                self.slots.insert(ids[i], self.entries.len());
                self.entries.push(e);
            }
        }
    }

    /// Changes with every entry added or replaced.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The whole ledger as an image: chunks of about `chunk_bytes`, each a table of the names
    /// it uses and whole records naming them by number (case id, version, then the stored
    /// record's fields). A restarted server reads a few large chunks back, and interns each name
    /// once per chunk rather than once per use.
    pub fn image(&self, chunk_bytes: usize) -> Vec<Vec<u8>> {
        let mut ids: Vec<(Uuid, usize)> = self.slots.iter().map(|(id, &i)| (*id, i)).collect();
        ids.sort_unstable();
        let mut chunks = Vec::new();
        let mut body: Vec<u8> = Vec::with_capacity(chunk_bytes);
        let mut local: FxMap<Sym, u32> = FxMap::default();
        let mut table: Vec<Sym> = Vec::new();
        let finish = |body: &mut Vec<u8>, local: &mut FxMap<Sym, u32>, table: &mut Vec<Sym>| {
            let mut chunk = Vec::with_capacity(body.len() + table.len() * 16 + 8);
            chunk.push(IMAGE_FORMAT);
            put_uint(&mut chunk, table.len() as u64);
            for &sym in table.iter() {
                put_str(&mut chunk, self.names.name(sym));
            }
            chunk.append(body);
            local.clear();
            table.clear();
            chunk
        };
        for (id, i) in ids {
            let e = &self.entries[i];
            body.extend_from_slice(id.as_bytes());
            put_uint(&mut body, e.version.max(0) as u64);
            write_body(&mut body, e, &mut |out, sym| {
                let n = *local.entry(sym).or_insert_with(|| {
                    table.push(sym);
                    table.len() as u32 - 1
                });
                put_uint(out, u64::from(n));
            });
            if body.len() >= chunk_bytes {
                chunks.push(finish(&mut body, &mut local, &mut table));
            }
        }
        if !body.is_empty() {
            chunks.push(finish(&mut body, &mut local, &mut table));
        }
        chunks
    }

    /// Adds the records of one image chunk, or fails if anything in it is damaged (then
    /// nothing of it is added).
    pub fn put_image_chunk(&mut self, chunk: &[u8]) -> Result<(), LedgerError> {
        let mut r = Reader { bytes: chunk };
        if r.byte()? != IMAGE_FORMAT {
            return Err(LedgerError("an unknown image format"));
        }
        let n = r.uint()?;
        if n > r.bytes.len() as u64 {
            return Err(LedgerError("too many names"));
        }
        let table = (0..n)
            .map(|_| r.str().map(|s| self.names.intern(s)))
            .collect::<Result<Vec<Sym>, _>>()?;
        let mut read = Vec::new();
        while !r.bytes.is_empty() {
            let id = Uuid::from_slice(r.take(16)?).map_err(|_| LedgerError("a bad case id"))?;
            let version =
                i64::try_from(r.uint()?).map_err(|_| LedgerError("a version out of range"))?;
            let entry = read_body(&mut r, version, &mut |r: &mut Reader| {
                let i = usize::try_from(r.uint()?).map_err(|_| LedgerError("a bad name"))?;
                table
                    .get(i)
                    .copied()
                    .ok_or(LedgerError("a name not in the table"))
            })?;
            read.push((id, entry));
        }
        for (id, entry) in read {
            self.insert(id, entry);
        }
        Ok(())
    }

    /// The grid code of a case the ledger holds (its first six digits name its district).
    pub fn grid_of(&self, id: Uuid) -> Option<&str> {
        self.slots
            .get(&id)
            .map(|&i| self.names.name(self.entries[i].grid))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The version of the case the ledger holds, if it holds it.
    pub fn version(&self, id: Uuid) -> Option<i64> {
        self.slots.get(&id).map(|&i| self.entries[i].version)
    }

    /// Adds or replaces a case's entry.
    pub fn put(&mut self, id: Uuid, version: i64, record: &CaseRecord) {
        // One path in: what is kept in memory is exactly what a stored record gives back.
        let bytes = encode(record);
        if let Err(e) = self.put_encoded(id, version, &bytes) {
            // `encode` wrote it; failing to read it back is a bug in this module.
            debug_assert!(false, "{e}");
        }
    }

    /// Adds or replaces a case's entry from its stored record.
    pub fn put_encoded(&mut self, id: Uuid, version: i64, bytes: &[u8]) -> Result<(), LedgerError> {
        let entry = decode(&mut self.names, version, bytes)?;
        self.insert(id, entry);
        Ok(())
    }

    fn insert(&mut self, id: Uuid, entry: Entry) {
        self.generation += 1;
        match self.slots.get(&id) {
            Some(&i) => self.entries[i] = entry,
            None => {
                self.slots.insert(id, self.entries.len());
                self.entries.push(entry);
            }
        }
    }

    /// Whether an entry is in scope.
    fn in_scope<'a>(&'a self, scope: Scope<'a>) -> impl Fn(&Entry) -> bool + Sync + 'a {
        // Resolved once: a name the ledger never saw matches nothing.
        let unit = match scope {
            Scope::Unit(code) => Some(self.names.get(code).unwrap_or(NONE)),
            _ => None,
        };
        move |e: &Entry| match scope {
            Scope::All => true,
            Scope::Region(prefix) => self.names.name(e.grid).starts_with(prefix),
            Scope::Unit(_) => {
                unit.is_some_and(|u| e.parts.contains(&u) || e.spans.iter().any(|s| s.unit == u))
            }
        }
    }

    /// The entries in scope reported before `to`.
    fn scoped<'a>(&'a self, scope: Scope<'a>, to: Secs) -> impl Iterator<Item = &'a Entry> + 'a {
        let in_scope = self.in_scope(scope);
        self.entries
            .iter()
            .filter(move |e| e.reported < to && in_scope(e))
    }

    /// Every count of the period — areas, subcategories, handling units, people, grid duties —
    /// in one pass over the ledger, split over the machine's cores.
    pub fn summary(&self, period: Period, scope: Scope<'_>, rule: MissedRule) -> Summary {
        let w = Window::of(period);
        let patrols = Patrols::of(self, w, scope, rule);
        let system = self.names.get("system").unwrap_or(NONE);
        let n = self.names.list.len();
        let in_scope = self.in_scope(scope);
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get().min(8));
        let chunk = self.entries.len().div_ceil(threads).max(1);
        let parts: Vec<Counts> = std::thread::scope(|s| {
            let workers: Vec<_> = self
                .entries
                .chunks(chunk)
                .map(|part| {
                    let (in_scope, patrols) = (&in_scope, &patrols);
                    s.spawn(move || {
                        let mut counts = Counts::new(n);
                        for e in part {
                            let moved_in_reach = e.last == NONE || e.last >= w.from;
                            if e.reported < w.to && moved_in_reach && in_scope(e) {
                                counts.count(e, w, patrols, system);
                            }
                        }
                        counts
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut total = Counts::new(n);
        for part in parts {
            total.merge(part);
        }
        total.named(&self.names)
    }

    /// Every handling unit's counts (docs/indicators.md, "Handling unit").
    pub fn units(&self, period: Period, scope: Scope<'_>) -> BTreeMap<String, UnitTally> {
        self.summary(period, scope, MissedRule::default()).units
    }

    /// Every area's counts at `level` (cases keyed by their grid code's prefix of that level).
    pub fn areas(
        &self,
        period: Period,
        level: Level,
        scope: Scope<'_>,
    ) -> BTreeMap<String, AreaTally> {
        self.summary(period, scope, MissedRule::default())
            .areas(level)
    }

    /// Every subcategory's counts, as an area's are counted.
    pub fn categories(&self, period: Period, scope: Scope<'_>) -> BTreeMap<String, AreaTally> {
        self.summary(period, scope, MissedRule::default())
            .categories
    }

    /// Every person's counts, keyed by user name (docs/indicators.md, "People"). The system's
    /// own steps (auto-dispatch, auto-close) are not a person's and are left out.
    pub fn people(&self, period: Period, scope: Scope<'_>) -> BTreeMap<String, PersonTally> {
        self.summary(period, scope, MissedRule::default()).people
    }

    /// What each grid owed in the period (`GridDuty`), keyed by grid code.
    pub fn grid_duties(
        &self,
        period: Period,
        scope: Scope<'_>,
        rule: MissedRule,
    ) -> BTreeMap<String, GridDuty> {
        self.summary(period, scope, rule).duties
    }

    /// Hotspots of the cases reported in the period (`evaluation::hotspots`).
    pub fn hotspots(
        &self,
        period: Period,
        scope: Scope<'_>,
        cell_m: f64,
        min_count: usize,
    ) -> Vec<Hotspot> {
        let w = Window::of(period);
        hotspots(
            self.scoped(scope, w.to)
                .filter(|e| w.contains(e.reported) && !e.merged)
                .map(|e| {
                    (
                        self.names.name(e.category).to_owned(),
                        f64::from(e.lon),
                        f64::from(e.lat),
                    )
                }),
            cell_m,
            min_count,
        )
    }

    /// Counts per local day of the period (days of `utc_offset_seconds`), oldest first.
    pub fn trend(
        &self,
        period: Period,
        scope: Scope<'_>,
        utc_offset_seconds: i32,
    ) -> Vec<(NaiveDate, DayCounts)> {
        let w = Window::of(period);
        let offset = Duration::seconds(i64::from(utc_offset_seconds));
        let first = (period.from + offset).date_naive();
        let last = (period.to - Duration::seconds(1) + offset).date_naive();
        let days = (last - first).num_days().max(0) as usize + 1;
        let mut out: Vec<(NaiveDate, DayCounts)> = (0..days)
            .map(|i| (first + Duration::days(i as i64), DayCounts::default()))
            .collect();
        // The local midnight starting the first day, in ledger seconds.
        let day0 = first
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp() - EPOCH - i64::from(utc_offset_seconds))
            .unwrap_or(0);
        let mut bump = |t: Secs, f: &dyn Fn(&mut DayCounts)| {
            if w.contains(t) {
                let i = (i64::from(t) - day0).div_euclid(86_400);
                if let Some((_, c)) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
                    f(c);
                }
            }
        };
        for e in self.scoped(scope, w.to) {
            bump(e.reported, &|c| c.reported += 1);
            bump(e.registered, &|c| c.registered += 1);
            bump(e.closed, &|c| c.closed += 1);
            for s in e.spans.iter() {
                if s.node == Node::Handle && s.action == Some(ActionName::Handle) {
                    let on_time = s.on_time();
                    bump(s.ended, &|c| {
                        c.handled += 1;
                        c.handled_on_time += u64::from(on_time);
                    });
                }
            }
        }
        out
    }
}

/// Every count of a period, by name (`Ledger::summary`).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Area counts per grid; coarser levels add them up (`areas`).
    pub grids: BTreeMap<String, AreaTally>,
    pub categories: BTreeMap<String, AreaTally>,
    pub units: BTreeMap<String, UnitTally>,
    pub people: BTreeMap<String, PersonTally>,
    pub duties: BTreeMap<String, GridDuty>,
}

impl Summary {
    /// The area counts at `level`: each grid's added to the area its code's prefix names.
    pub fn areas(&self, level: Level) -> BTreeMap<String, AreaTally> {
        let len = code_len(level);
        let mut out: BTreeMap<String, AreaTally> = BTreeMap::new();
        for (grid, t) in &self.grids {
            if let Some(code) = grid.get(..len) {
                out.entry(code.to_owned()).or_default().add(t);
            }
        }
        out
    }
}

/// Patrol reports by subcategory and cell of the missed rule's radius, to look for one near
/// each public report.
struct Patrols {
    cells: FxMap<(Sym, i64, i64), Vec<Sighting>>,
    rule: MissedRule,
}

impl Patrols {
    fn of(ledger: &Ledger, w: Window, scope: Scope<'_>, rule: MissedRule) -> Patrols {
        let mut cells: FxMap<(Sym, i64, i64), Vec<Sighting>> = FxMap::default();
        let window = rule.window_hours.saturating_mul(3600);
        for e in ledger.scoped(scope, w.to) {
            if e.source == Source::Patrol && e.reported.saturating_add(window) >= w.from {
                let (x, y) = CellGrid::new(rule).cell(e.lon, e.lat);
                cells
                    .entry((e.category, x, y))
                    .or_default()
                    .push((e.reported, e.lon, e.lat));
            }
        }
        Patrols { cells, rule }
    }

    /// Whether a patrol reported the same subcategory near the case shortly before it.
    fn found_first(&self, e: &Entry) -> bool {
        let window = self.rule.window_hours.saturating_mul(3600);
        let grid = CellGrid::new(self.rule);
        let (y, fy) = grid.row(e.lat);
        // Cells are a little over twice the radius across: whatever lies within the radius is
        // in this row or the one on the side the point is nearer to, and within a row in this
        // cell or the one on the nearer side — four cells, not nine.
        let rows = [y, if fy < 0.5 { y - 1 } else { y + 1 }];
        rows.iter().any(|&row| {
            let (x, fx) = grid.column(row, e.lon);
            [x, if fx < 0.5 { x - 1 } else { x + 1 }]
                .iter()
                .any(|&column| {
                    self.cells.get(&(e.category, column, row)).is_some_and(|v| {
                        v.iter().any(|&(t, lon, lat)| {
                            t <= e.reported
                                && e.reported - t <= window
                                && metres(lon, lat, e.lon, e.lat) <= self.rule.radius_m
                        })
                    })
                })
        })
    }
}

/// Square-ish cells of the ground a little over twice the missed rule's radius across. Rows are
/// bands of latitude; within a row, columns are measured with the cosine of the row's edge
/// farthest from the equator, so a column is never narrower than the cell in metres anywhere
/// in the row.
struct CellGrid {
    cell_m: f64,
}

impl CellGrid {
    const METRES_PER_DEGREE: f64 = 111_320.0;

    fn new(rule: MissedRule) -> Self {
        CellGrid {
            cell_m: 2.01 * rule.radius_m.max(1.0),
        }
    }

    /// The row a latitude lies in, and where in it (0..1).
    fn row(&self, lat: f32) -> (i64, f64) {
        let y = f64::from(lat) * Self::METRES_PER_DEGREE / self.cell_m;
        (y.floor() as i64, y - y.floor())
    }

    /// The column a longitude lies in within `row`, and where in it (0..1).
    fn column(&self, row: i64, lon: f32) -> (i64, f64) {
        let edge = |r: i64| (r as f64 * self.cell_m / Self::METRES_PER_DEGREE).abs();
        let lat = edge(row).max(edge(row + 1)).min(89.0);
        let x = f64::from(lon) * Self::METRES_PER_DEGREE * lat.to_radians().cos() / self.cell_m;
        (x.floor() as i64, x - x.floor())
    }

    fn cell(&self, lon: f32, lat: f32) -> (i64, i64) {
        let (y, _) = self.row(lat);
        (self.column(y, lon).0, y)
    }
}

/// Counts indexed by interned name, as one thread makes them.
struct Counts {
    grids: Vec<AreaTally>,
    categories: Vec<AreaTally>,
    units: Vec<UnitTally>,
    /// Units with a handling span in the period's reach, listed even with nothing counted.
    units_seen: Vec<bool>,
    people: Vec<PersonTally>,
    duties: Vec<GridDuty>,
}

impl Counts {
    fn new(n: usize) -> Counts {
        Counts {
            grids: vec![AreaTally::default(); n],
            categories: vec![AreaTally::default(); n],
            units: vec![UnitTally::default(); n],
            units_seen: vec![false; n],
            people: vec![PersonTally::default(); n],
            duties: vec![GridDuty::default(); n],
        }
    }

    /// One case's part of every count (docs/indicators.md).
    fn count(&mut self, e: &Entry, w: Window, patrols: &Patrols, system: Sym) {
        let at = |i: Sym| i as usize;
        // Areas and subcategories.
        let mut one = AreaTally::default();
        if w.contains(e.reported) {
            one.reported = 1;
        }
        let mut duty = GridDuty::default();
        if w.contains(e.registered) {
            one.registered = 1;
            one.registered_by_patrol = u64::from(e.source == Source::Patrol);
            one.registered_by_hotline = u64::from(e.source.is_hotline());
            duty.registered = 1;
            if e.source.needs_confirmation() && !patrols.found_first(e) {
                duty.missed = 1;
                duty.hotline_missed = u64::from(e.source.is_hotline());
            }
            if e.closed != NONE && e.closed < w.to {
                one.cohort_closed = 1;
                let handlings_on_time = e
                    .spans
                    .iter()
                    .filter(|s| s.node == Node::Handle && s.ended_with(ActionName::Handle))
                    .all(Span::on_time);
                one.cohort_closed_on_time = u64::from(handlings_on_time);
                if let Some(i) = e.solved.and_then(level_index) {
                    one.solved_at[i] = 1;
                }
            }
        }
        if w.contains(e.closed) {
            one.closed = 1;
        }
        if one != AreaTally::default() {
            if let Some(t) = self.grids.get_mut(at(e.grid)) {
                t.add(&one);
            }
            if let Some(t) = self.categories.get_mut(at(e.category)) {
                t.add(&one);
            }
        }
        // The reporter.
        if w.contains(e.reported)
            && e.reporter != system
            && let Some(t) = self.people.get_mut(at(e.reporter))
        {
            t.reported += 1;
            if e.registered != NONE && e.registered < w.to {
                t.valid_reports += 1;
            }
        }
        for (i, s) in e.spans.iter().enumerate() {
            // Confirm and check tasks the grid left undone.
            if matches!(s.node, Node::Confirm | Node::Check)
                && s.started < w.to
                && (s.ended == NONE || s.ended >= w.to)
                && w.contains(s.due)
            {
                duty.verification_overdue += 1;
            }
            if s.unit != 0 && s.started < w.to {
                self.count_unit(e, i, s, w);
            }
            if s.actor != 0 && s.actor != system && w.contains(s.ended) {
                self.count_person(e, i, s);
            }
        }
        if duty != GridDuty::default()
            && let Some(d) = self.duties.get_mut(at(e.grid))
        {
            d.add(&duty);
        }
    }

    fn count_unit(&mut self, e: &Entry, i: usize, s: &Span, w: Window) {
        match s.node {
            Node::Handle => {
                let u = s.unit as usize;
                if let Some(seen) = self.units_seen.get_mut(u) {
                    *seen = true;
                }
                let Some(t) = self.units.get_mut(u) else {
                    return;
                };
                match (w.contains(s.ended), s.action) {
                    (true, Some(ActionName::Handle)) => {
                        t.due += 1;
                        t.handled += 1;
                        t.handling_seconds.push(i64::from(s.working));
                        if s.on_time() {
                            t.handled_on_time += 1;
                        } else {
                            t.overdue += 1;
                        }
                    }
                    (true, Some(ActionName::Return)) => t.returned += 1,
                    _ => {
                        // Still with the unit at the period's end and due before it.
                        let open_at_end = s.ended == NONE || s.ended >= w.to;
                        if open_at_end && w.contains(s.due) {
                            t.due += 1;
                            t.overdue += 1;
                        }
                    }
                }
            }
            // A failed check sends the unit's work back: a rework of the handling before it.
            Node::Check if s.action == Some(ActionName::CheckFail) && w.contains(s.ended) => {
                let handler = e.spans[..i]
                    .iter()
                    .rev()
                    .find(|p| p.node == Node::Handle)
                    .map(|p| p.unit as usize)
                    .filter(|&u| u != 0);
                if let Some(t) = handler.and_then(|u| self.units.get_mut(u)) {
                    t.rework_count += 1;
                    if let Some(seen) = handler.and_then(|u| self.units_seen.get_mut(u)) {
                        *seen = true;
                    }
                }
            }
            _ => {}
        }
    }

    fn count_person(&mut self, e: &Entry, i: usize, s: &Span) {
        let Some(action) = s.action else { return };
        let Some(t) = self.people.get_mut(s.actor as usize) else {
            return;
        };
        let on_time = u64::from(s.on_time());
        match (s.node, action) {
            (Node::Confirm, ActionName::Confirm) => {
                t.confirmed += 1;
                t.confirmed_on_time += on_time;
            }
            (Node::Check, ActionName::CheckPass | ActionName::CheckFail) => {
                t.checked += 1;
                t.checked_on_time += on_time;
            }
            (Node::Register, ActionName::Register) => {
                t.registered += 1;
                t.registered_on_time += on_time;
                let voided = e.spans[i + 1..]
                    .iter()
                    .any(|later| later.action == Some(ActionName::Reject));
                t.registered_voided += u64::from(voided);
            }
            (Node::Close, ActionName::Close) => {
                t.closed += 1;
                t.closed_on_time += on_time;
            }
            (Node::Dispatch, ActionName::Dispatch) => {
                t.dispatched += 1;
                t.dispatched_on_time += on_time;
                let returned = e.spans.get(i + 1).is_some_and(|next| {
                    next.node == Node::Handle && next.ended_with(ActionName::Return)
                });
                t.dispatch_returned += u64::from(returned);
            }
            _ => {}
        }
    }

    fn merge(&mut self, other: Counts) {
        for (a, b) in self.grids.iter_mut().zip(&other.grids) {
            a.add(b);
        }
        for (a, b) in self.categories.iter_mut().zip(&other.categories) {
            a.add(b);
        }
        for (a, b) in self.units.iter_mut().zip(other.units) {
            a.add(b);
        }
        for (a, b) in self.units_seen.iter_mut().zip(other.units_seen) {
            *a |= b;
        }
        for (a, b) in self.people.iter_mut().zip(&other.people) {
            a.add(b);
        }
        for (a, b) in self.duties.iter_mut().zip(&other.duties) {
            a.add(b);
        }
    }

    fn named(self, names: &Names) -> Summary {
        fn keep<T: Default + PartialEq>(names: &Names, v: Vec<T>) -> BTreeMap<String, T> {
            v.into_iter()
                .enumerate()
                .filter(|(_, t)| *t != T::default())
                .map(|(i, t)| (names.name(i as Sym).to_owned(), t))
                .collect()
        }
        let units = self
            .units
            .into_iter()
            .zip(self.units_seen)
            .enumerate()
            .filter(|(_, (_, seen))| *seen)
            .map(|(i, (t, _))| (names.name(i as Sym).to_owned(), t))
            .collect();
        Summary {
            grids: keep(names, self.grids),
            categories: keep(names, self.categories),
            units,
            people: keep(names, self.people),
            duties: keep(names, self.duties),
        }
    }
}

/// A patrol report's time and place.
type Sighting = (Secs, f32, f32);

/// Metres between two nearby points (equirectangular; exact enough within a city).
fn metres(lon1: f32, lat1: f32, lon2: f32, lat2: f32) -> f64 {
    const METRES_PER_DEGREE: f64 = 111_320.0;
    let mid = ((f64::from(lat1) + f64::from(lat2)) / 2.0).to_radians();
    let dx = (f64::from(lon2) - f64::from(lon1)) * METRES_PER_DEGREE * mid.cos();
    let dy = (f64::from(lat2) - f64::from(lat1)) * METRES_PER_DEGREE;
    (dx * dx + dy * dy).sqrt()
}

// ---------------------------------------------------------------- the stored form

const FORMAT: u8 = 1;
const IMAGE_FORMAT: u8 = 2;

/// A case's record as bytes: version byte, the case's names and times, then its spans. Names
/// are written out (not interned ids), so a record reads back in any process.
pub fn encode(r: &CaseRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + r.spans.len() * 24);
    out.push(FORMAT);
    put_str(&mut out, &r.grid_code);
    put_str(&mut out, &r.category_code);
    put_str(&mut out, &r.reporter);
    out.push(index_of(&Source::ALL, &r.source));
    put_uint(&mut out, u64::from(secs(r.reported_at)));
    out.push(u8::from(r.merged));
    out.push(r.solved_level.map_or(0, |l| index_of(&LEVELS, &l) + 1));
    out.extend_from_slice(&(r.lon as f32).to_le_bytes());
    out.extend_from_slice(&(r.lat as f32).to_le_bytes());
    put_uint(&mut out, r.parts.len() as u64);
    for p in &r.parts {
        put_str(&mut out, p);
    }
    put_uint(&mut out, r.spans.len() as u64);
    for s in &r.spans {
        out.push(index_of(&NODES, &s.node));
        let by = s.ended_by.as_ref();
        out.push(by.map_or(0, |b| index_of(&ActionName::ALL, &b.action) + 1));
        out.push(by.map_or(0, |b| index_of(&Role::ALL, &b.role) + 1));
        put_str(&mut out, s.unit.as_deref().unwrap_or(""));
        put_str(&mut out, by.map_or("", |b| b.actor.as_str()));
        put_uint(&mut out, u64::from(secs(s.started_at)));
        put_uint(&mut out, u64::from(opt_secs(s.ended_at)));
        put_uint(&mut out, u64::from(opt_secs(s.due_at)));
        put_uint(
            &mut out,
            s.working_seconds.clamp(0, i64::from(u32::MAX)) as u64,
        );
    }
    out
}

/// An entry in the stored form (`encode`'s), with each name written by `name` (the image
/// writes a number into its name table). The role that ended each span is not kept in memory
/// and is written as unknown.
fn write_body(out: &mut Vec<u8>, e: &Entry, name: &mut impl FnMut(&mut Vec<u8>, Sym)) {
    out.push(FORMAT);
    name(out, e.grid);
    name(out, e.category);
    name(out, e.reporter);
    out.push(index_of(&Source::ALL, &e.source));
    put_uint(out, u64::from(e.reported));
    out.push(u8::from(e.merged));
    out.push(e.solved.map_or(0, |l| index_of(&LEVELS, &l) + 1));
    out.extend_from_slice(&e.lon.to_le_bytes());
    out.extend_from_slice(&e.lat.to_le_bytes());
    put_uint(out, e.parts.len() as u64);
    for &p in e.parts.iter() {
        name(out, p);
    }
    put_uint(out, e.spans.len() as u64);
    for s in e.spans.iter() {
        out.push(index_of(&NODES, &s.node));
        out.push(s.action.map_or(0, |a| index_of(&ActionName::ALL, &a) + 1));
        out.push(0);
        name(out, s.unit);
        name(out, s.actor);
        put_uint(out, u64::from(s.started));
        put_uint(out, u64::from(s.ended));
        put_uint(out, u64::from(s.due));
        put_uint(out, u64::from(s.working));
    }
}

fn index_of<T: PartialEq>(all: &[T], x: &T) -> u8 {
    all.iter().position(|a| a == x).unwrap_or(0) as u8
}

fn put_uint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, LedgerError> {
        let (&b, rest) = self
            .bytes
            .split_first()
            .ok_or(LedgerError("ends too early"))?;
        self.bytes = rest;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], LedgerError> {
        if self.bytes.len() < n {
            return Err(LedgerError("ends too early"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn uint(&mut self) -> Result<u64, LedgerError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(LedgerError("a number is too long"))
    }

    fn secs(&mut self) -> Result<Secs, LedgerError> {
        Secs::try_from(self.uint()?).map_err(|_| LedgerError("a time is out of range"))
    }

    fn str(&mut self) -> Result<&'a str, LedgerError> {
        let n = usize::try_from(self.uint()?).map_err(|_| LedgerError("a name is too long"))?;
        std::str::from_utf8(self.take(n)?).map_err(|_| LedgerError("a name is not UTF-8"))
    }

    fn f32(&mut self) -> Result<f32, LedgerError> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn pick<T: Copy>(&mut self, all: &[T]) -> Result<T, LedgerError> {
        all.get(usize::from(self.byte()?))
            .copied()
            .ok_or(LedgerError("an unknown code"))
    }

    /// 0 for none, else the index + 1.
    fn pick_opt<T: Copy>(&mut self, all: &[T]) -> Result<Option<T>, LedgerError> {
        match self.byte()? {
            0 => Ok(None),
            i => all
                .get(usize::from(i) - 1)
                .copied()
                .map(Some)
                .ok_or(LedgerError("an unknown code")),
        }
    }
}

fn decode(names: &mut Names, version: i64, bytes: &[u8]) -> Result<Entry, LedgerError> {
    let mut r = Reader { bytes };
    let entry = read_body(&mut r, version, &mut |r: &mut Reader| {
        Ok(names.intern(r.str()?))
    })?;
    if !r.bytes.is_empty() {
        return Err(LedgerError("trailing bytes"));
    }
    Ok(entry)
}

/// A record's fields, each name read by `name`.
fn read_body(
    r: &mut Reader<'_>,
    version: i64,
    name: &mut impl FnMut(&mut Reader<'_>) -> Result<Sym, LedgerError>,
) -> Result<Entry, LedgerError> {
    if r.byte()? != FORMAT {
        return Err(LedgerError("an unknown format"));
    }
    let grid = name(r)?;
    let category = name(r)?;
    let reporter = name(r)?;
    let source = r.pick(&Source::ALL)?;
    let reported = r.secs()?;
    let merged = r.byte()? != 0;
    let solved = r.pick_opt(&LEVELS)?;
    let lon = r.f32()?;
    let lat = r.f32()?;
    let n_parts = r.uint()?;
    // Every part and span takes at least a byte: a count beyond what is left is corrupt, and
    // must not reserve memory.
    if n_parts > r.bytes.len() as u64 {
        return Err(LedgerError("too many parts"));
    }
    let parts = (0..n_parts)
        .map(|_| name(r))
        .collect::<Result<Box<[Sym]>, _>>()?;
    let n_spans = r.uint()?;
    if n_spans > r.bytes.len() as u64 {
        return Err(LedgerError("too many spans"));
    }
    let mut spans = Vec::with_capacity(n_spans as usize);
    for _ in 0..n_spans {
        let node = r.pick(&NODES)?;
        let action = r.pick_opt(&ActionName::ALL)?;
        // Who ended it in which role: stored for readers to come, checked here.
        r.pick_opt(&Role::ALL)?;
        let unit = name(r)?;
        let actor = name(r)?;
        spans.push(Span {
            node,
            action,
            unit,
            actor,
            started: r.secs()?,
            ended: r.secs()?,
            due: r.secs()?,
            working: u32::try_from(r.uint()?).unwrap_or(u32::MAX),
        });
    }
    let first_end = |node: Node, action: ActionName| {
        spans
            .iter()
            .find(|s| s.node == node && s.ended_with(action))
            .map_or(NONE, |s| s.ended)
    };
    Ok(Entry {
        version,
        grid,
        category,
        reporter,
        source,
        reported,
        registered: first_end(Node::Register, ActionName::Register),
        closed: first_end(Node::Close, ActionName::Close),
        last: if spans.iter().any(|s| s.ended == NONE) {
            NONE
        } else {
            spans.iter().map(|s| s.ended).fold(reported, Secs::max)
        },
        merged,
        solved,
        lon,
        lat,
        parts,
        spans: spans.into_boxed_slice(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::evaluation::{EndedBy, NodeSpan};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn record(spans: Vec<NodeSpan>) -> CaseRecord {
        CaseRecord {
            grid_code: "110105001001001".into(),
            category_code: "09009".into(),
            source: Source::Hotline12345,
            reporter: "w1".into(),
            reported_at: Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap(),
            merged: false,
            solved_level: Some(Level::Street),
            lon: 116.45,
            lat: 39.92,
            parts: vec!["U9".into()],
            spans,
        }
    }

    fn span(start: i64, end: Option<i64>, action: Option<ActionName>) -> NodeSpan {
        let t = |s: i64| Utc.timestamp_opt(1_772_000_000 + s, 0).unwrap();
        NodeSpan {
            node: Node::Handle,
            unit: Some("U1".into()),
            started_at: t(start),
            ended_at: end.map(t),
            due_at: Some(t(start + 7200)),
            ended_by: action.map(|action| EndedBy {
                actor: "u".into(),
                role: Role::UnitUser,
                unit: Some("U1".into()),
                action,
            }),
            working_seconds: end.map_or(0, |e| e - start),
        }
    }

    #[test]
    fn a_record_reads_back_as_it_was_written() {
        let r = record(vec![
            span(0, Some(3600), Some(ActionName::Handle)),
            span(4000, None, None),
        ]);
        let mut ledger = Ledger::new();
        let id = Uuid::from_u128(7);
        ledger.put(id, 3, &r);
        assert_eq!(ledger.version(id), Some(3));
        let e = &ledger.entries[0];
        assert_eq!(ledger.names.name(e.grid), "110105001001001");
        assert_eq!(ledger.names.name(e.parts[0]), "U9");
        assert_eq!(e.spans.len(), 2);
        assert_eq!(e.spans[0].action, Some(ActionName::Handle));
        assert_eq!(e.spans[0].working, 3600);
        assert!(e.spans[0].on_time());
        assert_eq!(e.spans[1].ended, NONE);
        assert_eq!(e.solved, Some(Level::Street));
        // Putting the same case again replaces it.
        ledger.put(id, 4, &record(vec![]));
        assert_eq!(ledger.len(), 1);
        assert_eq!(ledger.version(id), Some(4));
    }

    #[test]
    fn a_unit_scope_sees_the_cases_the_unit_worked_or_was_named_in() {
        let ledger = Ledger::of(&[record(vec![span(0, Some(60), Some(ActionName::Handle))])]);
        let year = Period {
            from: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            to: Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
        };
        let seen = |scope| ledger.areas(year, Level::District, scope).len();
        assert_eq!(seen(Scope::Unit("U1")), 1);
        assert_eq!(seen(Scope::Unit("U9")), 1);
        assert_eq!(seen(Scope::Unit("U2")), 0);
        assert_eq!(seen(Scope::Region("110105")), 1);
        assert_eq!(seen(Scope::Region("110106")), 0);
    }

    #[test]
    fn an_image_reads_back_to_the_same_figures() {
        let records = vec![
            record(vec![span(0, Some(3600), Some(ActionName::Handle))]),
            record(vec![
                span(0, Some(9000), Some(ActionName::Handle)),
                span(9600, None, None),
            ]),
        ];
        let ledger = Ledger::of(&records);
        let mut copy = Ledger::new();
        // Tiny chunks: every record its own chunk.
        for chunk in ledger.image(1) {
            copy.put_image_chunk(&chunk).unwrap();
        }
        let year = Period {
            from: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            to: Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
        };
        copy.sort_by_grid();
        assert_eq!(copy.len(), 2);
        assert_eq!(copy.version(Uuid::from_u128(2)), Some(1));
        assert_eq!(copy.grid_of(Uuid::from_u128(1)), Some("110105001001001"));
        assert_eq!(copy.units(year, Scope::All), ledger.units(year, Scope::All));
        assert_eq!(
            copy.areas(year, Level::Grid, Scope::All),
            ledger.areas(year, Level::Grid, Scope::All)
        );
        // A damaged chunk is an error, not a panic.
        let mut bad = ledger.image(1 << 20).remove(0);
        bad.truncate(bad.len() - 3);
        let mut damaged = Ledger::new();
        assert!(damaged.put_image_chunk(&bad).is_err());
        assert!(damaged.is_empty(), "nothing of a damaged chunk is kept");
    }

    proptest! {
        /// Whatever bytes a damaged database hands back, reading them fails cleanly or gives
        /// an entry; it never panics.
        #[test]
        fn damaged_records_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut names = Names::new();
            let _ = decode(&mut names, 1, &bytes);
        }

        /// A public report is missed exactly when no patrol report of its subcategory lies
        /// within the radius in the window before it (the cells only speed the search up).
        #[test]
        fn missed_matches_a_search_of_every_patrol(
            patrols in proptest::collection::vec((-0.003f64..0.003, -0.003f64..0.003, 0i64..400_000), 0..12),
            hotline_hours in 0i64..200,
        ) {
            let at = |s: i64| Utc.timestamp_opt(1_772_000_000 + s, 0).unwrap();
            let (lon, lat) = (116.45, 39.92);
            let registered = |reported: i64| NodeSpan {
                node: Node::Register,
                unit: None,
                started_at: at(reported),
                ended_at: Some(at(reported + 60)),
                due_at: Some(at(reported + 3600)),
                ended_by: Some(EndedBy {
                    actor: "r".into(),
                    role: Role::Receiver,
                    unit: None,
                    action: ActionName::Register,
                }),
                working_seconds: 60,
            };
            let hotline_at = hotline_hours * 3600;
            let mut records = vec![CaseRecord {
                reported_at: at(hotline_at),
                lon,
                lat,
                spans: vec![registered(hotline_at)],
                ..record(vec![])
            }];
            let mut found = false;
            for &(dlon, dlat, t) in &patrols {
                let (plon, plat) = (lon + dlon, lat + dlat);
                records.push(CaseRecord {
                    source: Source::Patrol,
                    reported_at: at(t),
                    lon: plon,
                    lat: plat,
                    spans: vec![],
                    ..record(vec![])
                });
                let near = metres(plon as f32, plat as f32, lon as f32, lat as f32) <= 100.0;
                found |= near && t <= hotline_at && hotline_at - t <= 72 * 3600;
            }
            let year = Period { from: at(-10), to: at(10_000_000) };
            let duties = Ledger::of(&records).grid_duties(year, Scope::All, MissedRule::default());
            let missed = duties.get("110105001001001").map_or(0, |d| d.missed);
            prop_assert_eq!(missed, u64::from(!found));
        }

        /// Cutting a good record anywhere is an error, not a wrong entry.
        #[test]
        fn a_cut_record_is_an_error(cut in 0usize..60) {
            let bytes = encode(&record(vec![span(0, Some(3600), Some(ActionName::Handle))]));
            prop_assume!(cut < bytes.len());
            let mut names = Names::new();
            prop_assert!(decode(&mut names, 1, &bytes[..cut]).is_err());
        }
    }
}
