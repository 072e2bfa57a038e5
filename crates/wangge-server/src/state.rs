//! What every request handler shares: the store, the in-memory atlas and the configuration.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use std::collections::HashMap;
use wangge_domain::calendar::WorkingCalendar;
use wangge_domain::case_clock::NodeLimits;

use wangge_domain::dispatch::DispatchRule;
use wangge_store::{AnyStore, CategoryRow, Store, UnitRow};

use crate::atlas::Atlas;
use crate::auth::{LoginThrottle, TokenCache};
use crate::evidence::{EvidenceConfig, EvidenceError, EvidenceStore};

#[derive(Debug, Clone)]
pub struct Config {
    /// Largest request body accepted, in bytes; larger ones answer 413 and store nothing.
    pub body_limit_bytes: usize,
    /// Most points one `POST /api/v1/locate` may carry.
    pub max_locate_points: usize,
    /// Working days, holidays and working hours that deadlines count on.
    pub calendar: WorkingCalendar,
    pub node_limits: NodeLimits,
    /// Where evidence files (photos) are kept; None = a folder in the system's temp dir, for
    /// tests and throwaway runs.
    pub evidence_dir: Option<PathBuf>,
    /// A report this close (m) to an open case of the same subcategory …
    pub duplicate_radius_m: f64,
    /// … reported within this many hours is flagged as a possible duplicate.
    pub duplicate_window_hours: i64,
    /// A raster tile URL template for the console's maps (`…/{z}/{x}/{y}…`, e.g. 天地图 with
    /// its key); None draws the regions alone, with no tile server.
    pub map_tile_url: Option<String>,
    /// Where "now" comes from when a case is reported or acted on.
    pub clock: Clock,
    /// Mark the session cookie Secure: set it when users reach the server over HTTPS (as they
    /// must outside one machine), so the browser never sends the cookie in clear text.
    pub secure_cookies: bool,
    /// The weights of the composite scores and the missed-report rule (docs/indicators.md).
    pub evaluation: EvaluationSettings,
    /// Tags, full-read roles and the retention period of the base data.
    pub base_data: crate::registry::BaseDataSettings,
    /// The key personal data is sealed with (from the environment, never the database); without
    /// it people and organisations cannot be read or written.
    pub vault: Option<Arc<wangge_store::vault::Vault>>,
    /// Where a closed hotline case's outcome is posted (the hotline platform's callback URL);
    /// None keeps outcomes for export only.
    pub hotline_callback_url: Option<String>,
    /// Where personal notifications are posted as JSON (a webhook); None logs them only.
    pub notice_webhook_url: Option<String>,
    /// The secret the webhook's body is signed with (HMAC-SHA256); None sends it unsigned.
    pub notice_webhook_secret: Option<String>,
}

/// What a district may set about its evaluation (`--evaluation FILE`, JSON): every key is
/// optional and defaults to docs/indicators.md's value; an unknown key is an error, so a typo
/// does not silently leave a default in place.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationSettings {
    pub units: wangge_domain::evaluation::UnitWeights,
    pub areas: wangge_domain::evaluation::AreaWeights,
    pub people: wangge_domain::evaluation::PeopleWeights,
    pub missed: wangge_domain::evaluation::MissedRule,
    /// When a hotline ticket is about a case already held (docs/hotline.md): linked to it, and
    /// counted on the patrol's side when a patrol found it first.
    pub hotline_match: wangge_domain::hotline::MatchRule,
}

impl EvaluationSettings {
    /// Reads the settings from JSON; errors name the key (and line) and what was expected.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let settings: EvaluationSettings = serde_json::from_str(text).map_err(|e| e.to_string())?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), String> {
        let p = &self.people;
        let weights = [
            ("units.on_time_handling", self.units.on_time_handling),
            ("units.handling", self.units.handling),
            ("units.no_rework", self.units.no_rework),
            ("areas.closure", self.areas.closure),
            ("areas.on_time_closure", self.areas.on_time_closure),
            ("areas.patrol_share", self.areas.patrol_share),
            (
                "people.grid_worker.report_accuracy",
                p.grid_worker.report_accuracy,
            ),
            ("people.grid_worker.not_missed", p.grid_worker.not_missed),
            (
                "people.grid_worker.on_time_confirm",
                p.grid_worker.on_time_confirm,
            ),
            (
                "people.grid_worker.on_time_check",
                p.grid_worker.on_time_check,
            ),
            ("people.receiver.volume", p.receiver.volume),
            (
                "people.receiver.on_time_registration",
                p.receiver.on_time_registration,
            ),
            (
                "people.receiver.registration_accuracy",
                p.receiver.registration_accuracy,
            ),
            (
                "people.shift_leader.on_time_registration",
                p.shift_leader.on_time_registration,
            ),
            (
                "people.shift_leader.registration_accuracy",
                p.shift_leader.registration_accuracy,
            ),
            (
                "people.shift_leader.on_time_close",
                p.shift_leader.on_time_close,
            ),
            ("people.dispatcher.volume", p.dispatcher.volume),
            (
                "people.dispatcher.on_time_dispatch",
                p.dispatcher.on_time_dispatch,
            ),
            (
                "people.dispatcher.dispatch_accuracy",
                p.dispatcher.dispatch_accuracy,
            ),
        ];
        for (key, w) in weights {
            if !(w.is_finite() && (0.0..=1000.0).contains(&w)) {
                return Err(format!(
                    "{key}: a weight must be between 0 and 1000, not {w}"
                ));
            }
        }
        for (i, (per_day, score)) in p.volume_steps.0.iter().enumerate() {
            if !(per_day.is_finite()
                && *per_day >= 0.0
                && score.is_finite()
                && (0.0..=100.0).contains(score))
            {
                return Err(format!(
                    "people.volume_steps[{i}]: expected [cases a day ≥ 0, score 0–100], not [{per_day}, {score}]"
                ));
            }
        }
        if !(self.missed.radius_m.is_finite() && (1.0..=10_000.0).contains(&self.missed.radius_m)) {
            return Err(format!(
                "missed.radius_m: expected 1 to 10000 metres, not {}",
                self.missed.radius_m
            ));
        }
        if !(1..=24 * 90).contains(&self.missed.window_hours) {
            return Err(format!(
                "missed.window_hours: expected 1 to 2160 hours, not {}",
                self.missed.window_hours
            ));
        }
        self.hotline_match
            .check()
            .map_err(|e| format!("hotline_match.{}: {}", e.field, e.message))?;
        Ok(())
    }
}

/// The time cases are stamped with: the system clock, or an instant set by whoever replays
/// history — the demo reports its sample cases over the past days, so desks show work that is
/// due soon or overdue as a real centre's do.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<std::sync::Mutex<chrono::DateTime<chrono::Utc>>>>);

impl Clock {
    /// A clock that shows `at` until it is set again.
    pub fn manual(at: chrono::DateTime<chrono::Utc>) -> Clock {
        Clock(Some(Arc::new(std::sync::Mutex::new(at))))
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        match &self.0 {
            Some(at) => *at.lock().unwrap_or_else(|p| p.into_inner()),
            None => chrono::Utc::now(),
        }
    }

    /// Sets a manual clock; the system clock ignores it.
    pub fn set(&self, to: chrono::DateTime<chrono::Utc>) {
        if let Some(at) = &self.0 {
            *at.lock().unwrap_or_else(|p| p.into_inner()) = to;
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            body_limit_bytes: 16 * 1024 * 1024,
            max_locate_points: 100_000,
            calendar: WorkingCalendar::china_default(),
            node_limits: NodeLimits::default(),
            evidence_dir: None,
            duplicate_radius_m: 50.0,
            duplicate_window_hours: 72,
            map_tile_url: None,
            clock: Clock::default(),
            secure_cookies: false,
            evaluation: EvaluationSettings::default(),
            base_data: crate::registry::BaseDataSettings::default(),
            vault: None,
            hotline_callback_url: None,
            notice_webhook_url: None,
            notice_webhook_secret: None,
        }
    }
}

/// The small reference tables every command reads — categories, units, dispatch rules — held in
/// memory. Reloaded after this server changes them and every few seconds, so another server's
/// change shows within that time.
#[derive(Debug, Default)]
pub struct Reference {
    categories: HashMap<(String, String), CategoryRow>,
    units: Vec<UnitRow>,
    rules: Vec<DispatchRule>,
}

impl Reference {
    pub fn category(&self, kind: &str, code: &str) -> Option<&CategoryRow> {
        self.categories.get(&(kind.to_owned(), code.to_owned()))
    }

    pub fn categories(&self) -> impl Iterator<Item = &CategoryRow> {
        self.categories.values()
    }

    pub fn units(&self) -> &[UnitRow] {
        &self.units
    }

    pub fn unit(&self, code: &str) -> Option<&UnitRow> {
        self.units.iter().find(|u| u.code == code)
    }

    pub fn unit_by_id(&self, id: uuid::Uuid) -> Option<&UnitRow> {
        self.units.iter().find(|u| u.id == id)
    }

    pub fn dispatch_rules(&self) -> &[DispatchRule] {
        &self.rules
    }
}

/// Recently used cases with their timelines. Only for SQLite, where this process is the one
/// writer: a transition then needs no read before its write nor after it. An entry that is
/// stale anyway (another process wrote) is caught by the store's version guard and dropped.
#[derive(Debug, Default)]
pub struct CaseCache {
    enabled: bool,
    entries: std::sync::Mutex<CaseMap>,
}

/// A case row and, when known, its whole timeline.
type CaseMap = HashMap<
    uuid::Uuid,
    (
        wangge_store::CaseRow,
        Option<Vec<wangge_store::CaseEventRow>>,
    ),
>;

/// Cases kept at most; past that the cache starts again empty, which costs only reads.
const CASE_CACHE_LIMIT: usize = 50_000;

impl CaseCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CaseMap> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn row(&self, id: uuid::Uuid) -> Option<wangge_store::CaseRow> {
        if !self.enabled {
            return None;
        }
        self.lock().get(&id).map(|(row, _)| row.clone())
    }

    /// The timeline of the case at exactly this version, if known.
    pub fn events(&self, id: uuid::Uuid, version: i64) -> Option<Vec<wangge_store::CaseEventRow>> {
        if !self.enabled {
            return None;
        }
        let map = self.lock();
        let (row, events) = map.get(&id)?;
        events
            .clone()
            .filter(|e| row.version == version && e.len() as i64 == version)
    }

    pub fn put(&self, row: wangge_store::CaseRow, events: Option<Vec<wangge_store::CaseEventRow>>) {
        if !self.enabled {
            return;
        }
        let mut map = self.lock();
        if map.len() >= CASE_CACHE_LIMIT {
            map.clear();
        }
        map.insert(row.id, (row, events));
    }

    /// After a stored transition: the new row, and the event added to a known timeline.
    pub fn advance(&self, row: &wangge_store::CaseRow, event: &wangge_store::CaseEventRow) {
        if !self.enabled {
            return;
        }
        let mut map = self.lock();
        let events = map
            .remove(&row.id)
            .and_then(|(_, events)| events)
            .and_then(|mut e| {
                (e.len() as i64 + 1 == event.seq).then(|| {
                    e.push(event.clone());
                    e
                })
            });
        if map.len() >= CASE_CACHE_LIMIT {
            map.clear();
        }
        map.insert(row.id, (row.clone(), events));
    }

    pub fn forget(&self, id: uuid::Uuid) {
        self.lock().remove(&id);
    }
}

#[derive(Clone, Debug)]
pub struct AppState {
    pub store: AnyStore,
    pub config: Arc<Config>,
    pub tokens: Arc<TokenCache>,
    pub logins: Arc<LoginThrottle>,
    pub evidence: EvidenceStore,
    pub cases: Arc<CaseCache>,
    /// The evaluation ledger statistics count from.
    pub ledger: Arc<crate::ledger::LedgerCache>,
    /// Imports running in the background for the console's progress bar.
    pub imports: Arc<crate::registry_import::ImportJobs>,
    /// The address bases of the matcher (`campaign.rs`), rebuilt when houses change.
    pub addresses: Arc<crate::campaign::AddressBases>,
    /// The users notices are addressed to, read again every few seconds (`notices.rs`).
    pub notice_users: Arc<crate::notices::UserCache>,
    atlas: Arc<RwLock<Arc<Atlas>>>,
    reference: Arc<RwLock<Arc<Reference>>>,
    /// The configured calendar with the administrators' holidays and make-up days applied.
    calendar: Arc<RwLock<Arc<WorkingCalendar>>>,
    /// The region revision the current atlas was built from.
    atlas_revision: Arc<tokio::sync::Mutex<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Store(#[from] wangge_store::StoreError),
    #[error(transparent)]
    Atlas(#[from] crate::atlas::AtlasError),
    #[error("evidence store: {0}")]
    Evidence(#[from] EvidenceError),
}

impl AppState {
    /// Loads the atlas from the store.
    pub async fn load(store: AnyStore, config: Config) -> Result<Self, LoadError> {
        let dir = config.evidence_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("wangge-evidence-{}", std::process::id()))
        });
        let evidence = EvidenceStore::open(EvidenceConfig::new(dir))?;
        let config_calendar = config.calendar.clone();
        let cases = Arc::new(CaseCache {
            enabled: store.backend_name() == "sqlite",
            ..CaseCache::default()
        });
        let state = AppState {
            cases,
            ledger: Arc::default(),
            imports: Arc::default(),
            addresses: Arc::default(),
            notice_users: Arc::default(),
            store,
            evidence,
            config: Arc::new(config),
            tokens: Arc::default(),
            logins: Arc::default(),
            atlas: Arc::new(RwLock::new(Arc::new(Atlas::empty()))),
            atlas_revision: Arc::new(tokio::sync::Mutex::new(String::new())),
            calendar: Arc::new(RwLock::new(Arc::new(config_calendar))),
            reference: Arc::default(),
        };
        state.reload_reference().await?;
        state.reload_calendar().await?;
        state.reload_atlas().await?;
        Ok(state)
    }

    /// The atlas as of now; a reload swaps in a new one without blocking readers for long.
    pub fn atlas(&self) -> Arc<Atlas> {
        match self.atlas.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn reference(&self) -> Arc<Reference> {
        match self.reference.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads categories, units and dispatch rules again.
    pub async fn reload_reference(&self) -> Result<(), LoadError> {
        let categories = self
            .store
            .categories()
            .await?
            .into_iter()
            .map(|c| ((c.kind.clone(), c.code.clone()), c))
            .collect();
        let units = self.store.units().await?;
        let rules = self
            .store
            .dispatch_rules()
            .await?
            .into_iter()
            .map(|r| DispatchRule {
                category: r.category_code,
                region: r.region_code,
                component_unit: r.component_unit,
                unit: r.unit_code,
                auto_dispatch: r.auto_dispatch,
            })
            .collect();
        let reference = Arc::new(Reference {
            categories,
            units,
            rules,
        });
        match self.reference.write() {
            Ok(mut guard) => *guard = reference,
            Err(poisoned) => *poisoned.into_inner() = reference,
        }
        Ok(())
    }

    /// The working calendar deadlines count on.
    pub fn calendar(&self) -> Arc<WorkingCalendar> {
        match self.calendar.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Applies the stored holidays and make-up days to the configured calendar.
    pub async fn reload_calendar(&self) -> Result<(), LoadError> {
        use wangge_domain::calendar::SpecialDayKind;
        let mut calendar = self.config.calendar.clone();
        for (day, kind) in self.store.calendar_days().await? {
            let kind = match kind.as_str() {
                "holiday" => SpecialDayKind::Holiday,
                "workday" => SpecialDayKind::Workday,
                other => {
                    tracing::warn!(day, kind = other, "ignoring a calendar day of unknown kind");
                    continue;
                }
            };
            match chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d") {
                Ok(date) => calendar.set_special_day(date, kind),
                Err(_) => tracing::warn!(day, "ignoring a calendar day that is not a date"),
            }
        }
        let calendar = Arc::new(calendar);
        match self.calendar.write() {
            Ok(mut guard) => *guard = calendar,
            Err(poisoned) => *poisoned.into_inner() = calendar,
        }
        Ok(())
    }

    /// Rebuilds the atlas from the current regions in the store.
    pub async fn reload_atlas(&self) -> Result<(), LoadError> {
        let mut revision = self.atlas_revision.lock().await;
        *revision = self.store.regions_revision().await?;
        let rows = self.store.current_regions(None, None).await?;
        let atlas = tokio::task::spawn_blocking(move || Atlas::from_rows(&rows))
            .await
            .map_err(|e| {
                LoadError::Store(wangge_store::StoreError::Corrupt(format!(
                    "atlas build failed: {e}"
                )))
            })??;
        tracing::info!(
            regions = atlas.region_count(),
            grids = atlas.grid_count(),
            "atlas loaded"
        );
        let atlas = Arc::new(atlas);
        match self.atlas.write() {
            Ok(mut guard) => *guard = atlas,
            Err(poisoned) => *poisoned.into_inner() = atlas,
        }
        Ok(())
    }

    /// Rebuilds the atlas if the regions changed since it was built (e.g. by `wangge import`
    /// in another process). Returns whether it did.
    pub async fn refresh_atlas(&self) -> Result<bool, LoadError> {
        let now = self.store.regions_revision().await?;
        if *self.atlas_revision.lock().await == now {
            return Ok(false);
        }
        self.reload_atlas().await?;
        Ok(true)
    }

    /// Keeps the atlas and the reference tables current, checking every `every`.
    pub fn spawn_atlas_refresher(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = state.refresh_atlas().await {
                    tracing::warn!(error = %e, "could not refresh the atlas; keeping the old one");
                }
                if let Err(e) = state.reload_reference().await {
                    tracing::warn!(error = %e, "could not refresh reference data; keeping the old");
                }
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod evaluation_settings_tests {
    use super::EvaluationSettings;

    #[test]
    fn the_documented_example_is_the_defaults() {
        let text = include_str!("../../../docs/evaluation.example.json");
        assert_eq!(
            EvaluationSettings::from_json(text).unwrap(),
            EvaluationSettings::default()
        );
    }

    #[test]
    fn a_partial_file_keeps_the_other_defaults() {
        let s = EvaluationSettings::from_json(r#"{"units": {"no_rework": 50}}"#).unwrap();
        assert_eq!(s.units.no_rework, 50.0);
        assert_eq!(s.units.handling, 30.0);
        assert_eq!(s.people, Default::default());
    }

    #[test]
    fn mistakes_are_named() {
        for (text, names) in [
            (r#"{"unit": {}}"#, "unit"),
            (r#"{"units": {"handlng": 3}}"#, "handlng"),
            (r#"{"areas": {"closure": -1}}"#, "areas.closure"),
            (r#"{"missed": {"radius_m": 0}}"#, "missed.radius_m"),
            (
                r#"{"hotline_match": {"after_hours": -1}}"#,
                "hotline_match.after_hours",
            ),
            (
                r#"{"people": {"volume_steps": [[1, 400]]}}"#,
                "volume_steps[0]",
            ),
            ("{\n\"units\": {\"handling\": \"x\"}}", "line 2"),
        ] {
            let e = EvaluationSettings::from_json(text).unwrap_err();
            assert!(e.contains(names), "{text}: {e}");
        }
    }
}
