//! Hotline tickets (12345 / 96181 工单) and the case they are about (热线+网格, 未诉先办).
//!
//! A ticket from the hotline platform is compared with the cases the centre already holds: a
//! case of the same subcategory, near the ticket's place, reported shortly before it (or soon
//! after — the platform may be slower than a patrol) is the same problem, so the ticket is linked
//! to it instead of becoming a second case. When that case was found by a grid worker's patrol
//! before the citizen called, the grid was there first: 未诉先办 (`patrol_first`).
//!
//! Pure: the candidates are read by the caller (same district and subcategory, a time window);
//! this module decides, and says why.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::case::{CaseState, Source};
use crate::category::parse_category_code;
use crate::position::{Position, PositionError};

/// The hotline a ticket came from; each becomes its own case source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Channel {
    /// 12345 政务服务便民热线
    #[serde(rename = "12345")]
    Hotline12345,
    /// 96181 (城市管理服务热线)
    #[serde(rename = "96181")]
    Hotline96181,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Hotline12345, Channel::Hotline96181];

    /// The number as the platforms write it: "12345", "96181".
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Hotline12345 => "12345",
            Channel::Hotline96181 => "96181",
        }
    }

    /// The source a case made from a ticket of this channel gets.
    pub fn source(self) -> Source {
        match self {
            Channel::Hotline12345 => Source::Hotline12345,
            Channel::Hotline96181 => Source::Hotline96181,
        }
    }

    /// Reads "12345", "12345热线", "hotline_12345" (and the same for 96181); spaces around are
    /// ignored.
    pub fn parse(text: &str) -> Option<Channel> {
        let t = text.trim();
        let t = t.strip_prefix("hotline_").unwrap_or(t);
        let t = t.strip_suffix("热线").unwrap_or(t).trim();
        Channel::ALL.into_iter().find(|c| c.as_str() == t)
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest ticket number kept (the platforms' numbers are 12–24 characters).
pub const MAX_TICKET_NO_CHARS: usize = 64;
/// Longest complaint text kept, as a case description.
pub const MAX_TEXT_CHARS: usize = crate::case::MAX_DESCRIPTION_CHARS;
/// Longest address kept.
pub const MAX_ADDRESS_CHARS: usize = 500;

/// A ticket as it arrives (a JSON object or a spreadsheet row), before it is checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketInput {
    pub ticket_no: String,
    pub channel: String,
    pub text: String,
    pub address: Option<String>,
    pub lon: Option<String>,
    pub lat: Option<String>,
    pub category: String,
    pub received_at: String,
    pub caller: Option<String>,
    pub phone: Option<String>,
}

/// A ticket that passed every check that needs no storage.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub ticket_no: String,
    pub channel: Channel,
    pub text: String,
    pub address: Option<String>,
    /// WGS-84. A ticket without one is located by its address.
    pub position: Option<Position>,
    /// The subcategory code (小类) of the catalogue.
    pub category: String,
    pub received_at: DateTime<Utc>,
    pub caller: Option<String>,
    pub phone: Option<String>,
}

/// One bad field of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct TicketError {
    /// The field's English name (ticket_no, channel, text, address, lon, lat, category,
    /// received_at, caller, phone).
    pub field: &'static str,
    pub message: String,
}

/// Times without a zone are Beijing time, as the hotline platforms export them.
fn from_beijing(naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    FixedOffset::east_opt(8 * 3600)?
        .from_local_datetime(&naive)
        .single()
        .map(|at| at.with_timezone(&Utc))
}

/// Reads an instant: RFC 3339 (`2026-11-20T09:30:00+08:00`), or a Beijing local time
/// `YYYY-MM-DD HH:MM[:SS]` / `YYYY/MM/DD HH:MM[:SS]` / `YYYY-MM-DDTHH:MM[:SS]`.
pub fn parse_received_at(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Some(at.with_timezone(&Utc));
    }
    let t = t.replace('/', "-").replace('T', " ");
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(&t, f).ok())
    .and_then(from_beijing)
}

fn optional(text: Option<String>) -> Option<String> {
    text.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn number(errors: &mut Vec<TicketError>, field: &'static str, text: Option<String>) -> Option<f64> {
    let t = optional(text)?;
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Some(v),
        _ => {
            errors.push(TicketError {
                field,
                message: format!("'{t}' is not a number"),
            });
            None
        }
    }
}

impl Ticket {
    /// Checks every field and reports every bad one (a spreadsheet row names them all at once).
    pub fn parse(input: TicketInput) -> Result<Ticket, Vec<TicketError>> {
        let mut errors = Vec::new();
        let mut fail = |field, message: String| errors.push(TicketError { field, message });
        let ticket_no = input.ticket_no.trim().to_owned();
        if ticket_no.is_empty() {
            fail("ticket_no", "the ticket number is required".into());
        } else if ticket_no.chars().count() > MAX_TICKET_NO_CHARS {
            fail(
                "ticket_no",
                format!("at most {MAX_TICKET_NO_CHARS} characters"),
            );
        } else if ticket_no.chars().any(char::is_control) {
            fail("ticket_no", "must not contain control characters".into());
        }
        let channel = Channel::parse(&input.channel);
        if channel.is_none() {
            fail(
                "channel",
                format!(
                    "'{}' is not a hotline: expected 12345 or 96181",
                    input.channel.trim()
                ),
            );
        }
        let text = input.text.trim().to_owned();
        if text.is_empty() {
            fail("text", "the complaint text is required".into());
        } else if text.chars().count() > MAX_TEXT_CHARS {
            fail("text", format!("at most {MAX_TEXT_CHARS} characters"));
        }
        let address = optional(input.address);
        if address
            .as_ref()
            .is_some_and(|a| a.chars().count() > MAX_ADDRESS_CHARS)
        {
            fail("address", format!("at most {MAX_ADDRESS_CHARS} characters"));
        }
        let mut category = input.category.trim().to_owned();
        // A spreadsheet that kept the code as a number dropped its leading zero (06001 → 6001).
        if category.len() == 4 && category.bytes().all(|b| b.is_ascii_digit()) {
            category.insert(0, '0');
        }
        if let Err(e) = parse_category_code(&category) {
            fail("category", e.to_string());
        }
        let received_at = parse_received_at(&input.received_at);
        if received_at.is_none() {
            fail(
                "received_at",
                format!(
                    "'{}' is not a time: expected e.g. 2026-11-20 09:30 (Beijing time) or RFC 3339",
                    input.received_at.trim()
                ),
            );
        }
        let caller = optional(input.caller);
        let phone = optional(input.phone);
        if phone.as_ref().is_some_and(|p| p.chars().count() > 32) {
            fail("phone", "at most 32 characters".into());
        }
        if caller.as_ref().is_some_and(|c| c.chars().count() > 100) {
            fail("caller", "at most 100 characters".into());
        }
        // A bad number is reported as such, not again as missing beside its partner.
        let given = |t: &Option<String>| t.as_deref().is_some_and(|t| !t.trim().is_empty());
        let (lon_given, lat_given) = (given(&input.lon), given(&input.lat));
        let lon = number(&mut errors, "lon", input.lon);
        let lat = number(&mut errors, "lat", input.lat);
        let position = match (lon, lat) {
            (Some(lon), Some(lat)) => match Position::new(lon, lat) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(TicketError {
                        field: match e {
                            PositionError::OutOfRange { field: "lat", .. }
                            | PositionError::NotFinite { field: "lat" } => "lat",
                            _ => "lon",
                        },
                        message: e.to_string(),
                    });
                    None
                }
            },
            (Some(_), None) if !lat_given => {
                errors.push(TicketError {
                    field: "lat",
                    message: "lon is given without lat".into(),
                });
                None
            }
            (None, Some(_)) if !lon_given => {
                errors.push(TicketError {
                    field: "lon",
                    message: "lat is given without lon".into(),
                });
                None
            }
            _ => None,
        };
        if position.is_none()
            && address.is_none()
            && !errors.iter().any(|e| e.field == "lon" || e.field == "lat")
        {
            errors.push(TicketError {
                field: "address",
                message: "give the address or the position (lon, lat)".into(),
            });
        }
        match (channel, received_at) {
            (Some(channel), Some(received_at)) if errors.is_empty() => Ok(Ticket {
                ticket_no,
                channel,
                text,
                address,
                position,
                category,
                received_at,
                caller,
                phone,
            }),
            _ => Err(errors),
        }
    }
}

/// When a ticket is about a case already held.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchRule {
    /// At most this far apart (m).
    pub radius_m: f64,
    /// The case was reported at most this many hours before the ticket …
    pub before_hours: i64,
    /// … or at most this many hours after it.
    pub after_hours: i64,
}

impl Default for MatchRule {
    fn default() -> Self {
        MatchRule {
            radius_m: 200.0,
            before_hours: 72,
            after_hours: 24,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: &'static str,
    pub message: String,
}

impl MatchRule {
    pub fn check(&self) -> Result<(), RuleError> {
        if !(self.radius_m.is_finite() && (1.0..=10_000.0).contains(&self.radius_m)) {
            return Err(RuleError {
                field: "radius_m",
                message: format!("expected 1 to 10000 metres, not {}", self.radius_m),
            });
        }
        for (field, h) in [
            ("before_hours", self.before_hours),
            ("after_hours", self.after_hours),
        ] {
            if !(0..=24 * 90).contains(&h) {
                return Err(RuleError {
                    field,
                    message: format!("expected 0 to 2160 hours, not {h}"),
                });
            }
        }
        Ok(())
    }

    /// The reporting times a candidate may have for a ticket received at `at`.
    pub fn window(&self, at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            at - chrono::Duration::hours(self.before_hours),
            at + chrono::Duration::hours(self.after_hours),
        )
    }
}

/// A case a ticket may be about, as the matcher needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: Uuid,
    pub category: String,
    pub position: Position,
    pub reported_at: DateTime<Utc>,
    pub source: Source,
    pub state: CaseState,
}

/// Why a ticket is about a case.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub case_id: Uuid,
    /// Metres between the ticket and the case.
    pub distance_m: f64,
    /// Hours from the ticket to the case's report: negative when the case came first.
    pub hours: f64,
    /// A patrol found it before the citizen called (未诉先办).
    pub patrol_first: bool,
}

impl Link {
    /// The reason in words, stored with the ticket.
    pub fn reason(&self) -> String {
        let when = if self.hours <= 0.0 {
            format!("reported {:.1} h before the ticket", -self.hours)
        } else {
            format!("reported {:.1} h after the ticket", self.hours)
        };
        let first = if self.patrol_first {
            "; found on patrol first (未诉先办)"
        } else {
            ""
        };
        format!(
            "same subcategory, {:.0} m away, {when}{first}",
            self.distance_m
        )
    }
}

/// Why no case was found: how many candidates failed which test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Misses {
    pub other_subcategory: usize,
    pub finished_void_or_merged: usize,
    pub outside_window: usize,
    pub too_far: usize,
}

/// The answer for one ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Match {
    Linked(Link),
    /// No case fits; the ticket becomes a new case.
    None(Misses),
}

impl Match {
    pub fn link(&self) -> Option<&Link> {
        match self {
            Match::Linked(l) => Some(l),
            Match::None(_) => None,
        }
    }

    pub fn reason(&self, rule: &MatchRule) -> String {
        match self {
            Match::Linked(l) => l.reason(),
            Match::None(m) => format!(
                "no case of the same subcategory within {:.0} m reported {} h before to {} h after the ticket ({} too far, {} outside the time window, {} void or merged, {} of another subcategory)",
                rule.radius_m,
                rule.before_hours,
                rule.after_hours,
                m.too_far,
                m.outside_window,
                m.finished_void_or_merged,
                m.other_subcategory
            ),
        }
    }
}

/// What a ticket needs to be matched: its place, subcategory and time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe<'a> {
    pub category: &'a str,
    pub position: Position,
    pub received_at: DateTime<Utc>,
}

/// The case a ticket is about, if any: same subcategory, within the radius and the time window,
/// not void or merged; the nearest wins, then the closest in time, then the smallest id (so the
/// answer never depends on the order of the candidates).
pub fn match_ticket(ticket: Probe<'_>, candidates: &[Candidate], rule: &MatchRule) -> Match {
    let (from, to) = rule.window(ticket.received_at);
    let mut misses = Misses::default();
    let mut best: Option<Link> = None;
    for c in candidates {
        if c.category != ticket.category {
            misses.other_subcategory += 1;
            continue;
        }
        if matches!(c.state, CaseState::Invalid | CaseState::Merged) {
            misses.finished_void_or_merged += 1;
            continue;
        }
        if c.reported_at < from || c.reported_at > to {
            misses.outside_window += 1;
            continue;
        }
        let distance_m = ticket.position.distance_m(c.position);
        // NaN never passes (positions are finite, but stay safe).
        if distance_m.is_nan() || distance_m > rule.radius_m {
            misses.too_far += 1;
            continue;
        }
        let seconds = (c.reported_at - ticket.received_at).num_seconds();
        let link = Link {
            case_id: c.id,
            distance_m,
            hours: seconds as f64 / 3600.0,
            patrol_first: c.source == Source::Patrol && c.reported_at <= ticket.received_at,
        };
        let better = match &best {
            None => true,
            Some(b) => {
                link.distance_m
                    .total_cmp(&b.distance_m)
                    .then(link.hours.abs().total_cmp(&b.hours.abs()))
                    .then(link.case_id.cmp(&b.case_id))
                    == Ordering::Less
            }
        };
        if better {
            best = Some(link);
        }
    }
    match best {
        Some(l) => Match::Linked(l),
        None => Match::None(misses),
    }
}

/// How a ticket is tied to its case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// The ticket became a new case.
    Created,
    /// The ticket is about a case already held.
    Matched,
    /// An earlier ticket of the same batch made or found the case.
    Duplicate,
}

impl How {
    pub fn as_str(self) -> &'static str {
        match self {
            How::Created => "created",
            How::Matched => "matched",
            How::Duplicate => "duplicate",
        }
    }

    pub fn parse(text: &str) -> Option<How> {
        [How::Created, How::Matched, How::Duplicate]
            .into_iter()
            .find(|h| h.as_str() == text)
    }
}

/// What a grid worker found when checking how a hotline case was handled (回访核查).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationResult {
    /// 满意
    Satisfied,
    /// 不满意
    Unsatisfied,
    /// 问题未解决
    NotFixed,
    /// 联系不上
    Unreachable,
}

impl VerificationResult {
    pub const ALL: [VerificationResult; 4] = [
        VerificationResult::Satisfied,
        VerificationResult::Unsatisfied,
        VerificationResult::NotFixed,
        VerificationResult::Unreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VerificationResult::Satisfied => "satisfied",
            VerificationResult::Unsatisfied => "unsatisfied",
            VerificationResult::NotFixed => "not_fixed",
            VerificationResult::Unreachable => "unreachable",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            VerificationResult::Satisfied => "满意",
            VerificationResult::Unsatisfied => "不满意",
            VerificationResult::NotFixed => "问题未解决",
            VerificationResult::Unreachable => "联系不上",
        }
    }

    pub fn parse(text: &str) -> Option<VerificationResult> {
        Self::ALL.into_iter().find(|r| r.as_str() == text.trim())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0).unwrap()
    }

    fn pos(lon: f64, lat: f64) -> Position {
        Position::new(lon, lat).unwrap()
    }

    /// A point `north_m` metres north of (116.4, 39.9).
    fn north(north_m: f64) -> Position {
        pos(116.4, 39.9 + north_m / 111_195.0)
    }

    fn case(n: u128, category: &str, at: Position, hours: i64, source: Source) -> Candidate {
        Candidate {
            id: Uuid::from_u128(n),
            category: category.into(),
            position: at,
            reported_at: t0() + chrono::Duration::hours(hours),
            source,
            state: CaseState::Registered,
        }
    }

    fn probe() -> Probe<'static> {
        Probe {
            category: "06001",
            position: north(0.0),
            received_at: t0(),
        }
    }

    fn linked(m: &Match) -> Uuid {
        m.link().map(|l| l.case_id).unwrap_or_default()
    }

    #[test]
    fn known_answers() {
        let rule = MatchRule::default();
        // (candidates, expected case or none)
        let cases: Vec<(&str, Vec<Candidate>, Option<u128>)> = vec![
            (
                "same place and time",
                vec![case(1, "06001", north(0.0), 0, Source::Patrol)],
                Some(1),
            ),
            (
                "190 m away",
                vec![case(1, "06001", north(190.0), -5, Source::Patrol)],
                Some(1),
            ),
            (
                "just outside the radius",
                vec![case(1, "06001", north(201.0), -5, Source::Patrol)],
                None,
            ),
            (
                "71 h before",
                vec![case(1, "06001", north(10.0), -71, Source::Patrol)],
                Some(1),
            ),
            (
                "just outside the window before",
                vec![case(1, "06001", north(10.0), -73, Source::Patrol)],
                None,
            ),
            (
                "23 h after",
                vec![case(1, "06001", north(10.0), 23, Source::Hotline12345)],
                Some(1),
            ),
            (
                "just outside the window after",
                vec![case(1, "06001", north(10.0), 25, Source::Patrol)],
                None,
            ),
            (
                "another subcategory",
                vec![case(1, "06002", north(0.0), 0, Source::Patrol)],
                None,
            ),
            (
                "the nearer of two",
                vec![
                    case(1, "06001", north(150.0), -1, Source::Patrol),
                    case(2, "06001", north(40.0), -60, Source::Patrol),
                ],
                Some(2),
            ),
            (
                "equally near: the closer in time",
                vec![
                    case(1, "06001", north(40.0), -30, Source::Patrol),
                    case(2, "06001", north(40.0), -2, Source::Patrol),
                ],
                Some(2),
            ),
            (
                "equal in all: the smaller id",
                vec![
                    case(7, "06001", north(40.0), -2, Source::Patrol),
                    case(3, "06001", north(40.0), -2, Source::Patrol),
                ],
                Some(3),
            ),
        ];
        for (name, candidates, expected) in cases {
            let m = match_ticket(probe(), &candidates, &rule);
            assert_eq!(
                m.link().map(|l| l.case_id),
                expected.map(Uuid::from_u128),
                "{name}: {m:?}"
            );
            // The order of the candidates never changes the answer.
            let mut reversed = candidates.clone();
            reversed.reverse();
            assert_eq!(
                match_ticket(probe(), &reversed, &rule),
                m,
                "{name} reversed"
            );
        }
    }

    #[test]
    fn void_and_merged_cases_are_not_candidates() {
        let mut void = case(1, "06001", north(0.0), -1, Source::Patrol);
        void.state = CaseState::Invalid;
        let mut merged = case(2, "06001", north(0.0), -1, Source::Patrol);
        merged.state = CaseState::Merged;
        let mut closed = case(3, "06001", north(100.0), -1, Source::Patrol);
        closed.state = CaseState::Closed;
        let m = match_ticket(probe(), &[void, merged, closed], &MatchRule::default());
        assert_eq!(linked(&m), Uuid::from_u128(3));
    }

    #[test]
    fn the_answer_says_why() {
        let rule = MatchRule::default();
        let m = match_ticket(
            probe(),
            &[case(1, "06001", north(50.0), -5, Source::Patrol)],
            &rule,
        );
        let l = *m.link().unwrap();
        assert!((l.distance_m - 50.0).abs() < 0.5, "{l:?}");
        assert!((l.hours + 5.0).abs() < 1e-9);
        assert!(l.patrol_first);
        assert_eq!(
            m.reason(&rule),
            "same subcategory, 50 m away, reported 5.0 h before the ticket; found on patrol first (未诉先办)"
        );
        // A hotline case, or a patrol case reported after the call, is not 未诉先办.
        let after = match_ticket(
            probe(),
            &[case(1, "06001", north(0.0), 2, Source::Patrol)],
            &rule,
        );
        assert!(!after.link().unwrap().patrol_first);
        let hotline = match_ticket(
            probe(),
            &[case(1, "06001", north(0.0), -2, Source::Hotline12345)],
            &rule,
        );
        assert!(!hotline.link().unwrap().patrol_first);
        let none = match_ticket(
            probe(),
            &[
                case(1, "06001", north(500.0), -1, Source::Patrol),
                case(2, "06001", north(0.0), -100, Source::Patrol),
                case(3, "09001", north(0.0), -1, Source::Patrol),
            ],
            &rule,
        );
        assert_eq!(
            none,
            Match::None(Misses {
                other_subcategory: 1,
                finished_void_or_merged: 0,
                outside_window: 1,
                too_far: 1
            })
        );
        assert!(
            none.reason(&rule)
                .contains("1 too far, 1 outside the time window")
        );
    }

    #[test]
    fn rules_are_configurable_and_checked() {
        let wide = MatchRule {
            radius_m: 1000.0,
            before_hours: 200,
            after_hours: 0,
        };
        assert!(wide.check().is_ok());
        let far = [case(1, "06001", north(800.0), -150, Source::Patrol)];
        assert!(match_ticket(probe(), &far, &wide).link().is_some());
        assert!(
            match_ticket(probe(), &far, &MatchRule::default())
                .link()
                .is_none()
        );
        assert_eq!(
            MatchRule {
                radius_m: f64::NAN,
                ..wide
            }
            .check()
            .unwrap_err()
            .field,
            "radius_m"
        );
        assert_eq!(
            MatchRule {
                after_hours: -1,
                ..wide
            }
            .check()
            .unwrap_err()
            .field,
            "after_hours"
        );
    }

    fn input() -> TicketInput {
        TicketInput {
            ticket_no: " GD2026112000001 ".into(),
            channel: "12345热线".into(),
            text: "小区门口垃圾堆放多日".into(),
            address: Some("朝阳路1号".into()),
            lon: Some("116.4".into()),
            lat: Some("39.9".into()),
            category: "06001".into(),
            received_at: "2026-11-20 10:00".into(),
            caller: Some("张三".into()),
            phone: Some("13800138000".into()),
        }
    }

    #[test]
    fn a_good_ticket_is_read() {
        let t = Ticket::parse(input()).unwrap();
        assert_eq!(t.ticket_no, "GD2026112000001");
        assert_eq!(t.channel, Channel::Hotline12345);
        assert_eq!(t.channel.source(), Source::Hotline12345);
        // 10:00 in Beijing is 02:00 UTC.
        assert_eq!(t.received_at, t0());
        assert_eq!(parse_received_at("2026/11/20 10:00:00"), Some(t0()));
        assert_eq!(parse_received_at("2026-11-20T02:00:00Z"), Some(t0()));
        assert_eq!(Channel::parse("hotline_96181"), Some(Channel::Hotline96181));
        let t = Ticket::parse(TicketInput {
            category: "6001".into(),
            ..input()
        })
        .unwrap();
        assert_eq!(t.category, "06001");
        // An address alone is enough; the server locates it.
        let t = Ticket::parse(TicketInput {
            lon: None,
            lat: None,
            ..input()
        })
        .unwrap();
        assert_eq!(t.position, None);
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = TicketInput {
            ticket_no: "".into(),
            channel: "110".into(),
            text: " ".into(),
            address: None,
            lon: Some("east".into()),
            lat: None,
            category: "6".into(),
            received_at: "yesterday".into(),
            caller: None,
            phone: None,
        };
        let fields: Vec<&str> = Ticket::parse(bad)
            .unwrap_err()
            .iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "ticket_no",
                "channel",
                "text",
                "category",
                "received_at",
                "lon"
            ]
        );
        let nowhere = Ticket::parse(TicketInput {
            lon: None,
            lat: None,
            address: None,
            ..input()
        });
        assert_eq!(nowhere.unwrap_err()[0].field, "address");
        let swapped = Ticket::parse(TicketInput {
            lon: Some("39.9".into()),
            lat: Some("116.4".into()),
            ..input()
        });
        assert_eq!(swapped.unwrap_err()[0].field, "lon");
    }

    fn any_candidate() -> impl Strategy<Value = Candidate> {
        (
            0u128..50,
            prop_oneof![Just("06001"), Just("06002")],
            -0.01f64..0.01,
            -0.01f64..0.01,
            -200i64..200,
            0usize..4,
            any::<bool>(),
        )
            .prop_map(|(id, cat, dx, dy, h, st, patrol)| Candidate {
                id: Uuid::from_u128(id),
                category: cat.into(),
                position: pos(116.4 + dx, 39.9 + dy),
                reported_at: t0() + chrono::Duration::minutes(h * 30),
                source: if patrol {
                    Source::Patrol
                } else {
                    Source::Hotline12345
                },
                state: [
                    CaseState::Registered,
                    CaseState::Closed,
                    CaseState::Invalid,
                    CaseState::Merged,
                ][st],
            })
    }

    proptest! {
        /// Whatever a platform sends, reading it answers a ticket or named fields, never a panic;
        /// a ticket read is within its limits.
        #[test]
        fn reading_any_ticket_never_panics(
            no in ".{0,80}",
            channel in prop_oneof![Just("12345".to_owned()), Just("96181热线".to_owned()), ".{0,8}"],
            text in ".{0,50}",
            lon in prop_oneof![Just(None), Just(Some("116.4".to_owned())), proptest::option::of(".{0,12}")],
            lat in prop_oneof![Just(None), Just(Some("39.9".to_owned())), proptest::option::of(".{0,12}")],
            category in prop_oneof![Just("06001".to_owned()), "[0-9]{0,6}", ".{0,6}"],
            at in prop_oneof![Just("2026-11-20 10:00".to_owned()), "[0-9 :/TZ+-]{0,25}"],
        ) {
            let input = TicketInput {
                ticket_no: no,
                channel,
                text,
                address: None,
                lon,
                lat,
                category,
                received_at: at.clone(),
                caller: None,
                phone: None,
            };
            match Ticket::parse(input) {
                Ok(t) => {
                    prop_assert!(!t.ticket_no.is_empty() && t.ticket_no.chars().count() <= MAX_TICKET_NO_CHARS);
                    prop_assert!(t.position.is_some());
                    prop_assert_eq!(t.category.len(), 5);
                }
                Err(errors) => prop_assert!(!errors.is_empty()),
            }
            let _ = parse_received_at(&at);
        }

        #[test]
        fn never_panics_and_an_exact_twin_links(
            candidates in proptest::collection::vec(any_candidate(), 0..20),
            pick in any::<proptest::sample::Index>(),
            radius in 1.0f64..2000.0,
            before in 0i64..500,
            after in 0i64..500,
        ) {
            let rule = MatchRule { radius_m: radius, before_hours: before, after_hours: after };
            let probe = Probe { category: "06001", position: pos(116.4, 39.9), received_at: t0() };
            let m = match_ticket(probe, &candidates, &rule);
            if let Some(l) = m.link() {
                prop_assert!(l.distance_m <= radius);
            }
            let _ = m.reason(&rule);
            // A ticket at a live candidate's exact place and time links to it (or to an equally
            // exact twin with a smaller id).
            if !candidates.is_empty() {
                let c = pick.get(&candidates);
                if !matches!(c.state, CaseState::Invalid | CaseState::Merged) {
                    let at = Probe { category: &c.category, position: c.position, received_at: c.reported_at };
                    let m = match_ticket(at, &candidates, &rule);
                    let l = m.link().copied();
                    prop_assert!(l.is_some());
                    let l = l.unwrap_or(Link { case_id: Uuid::nil(), distance_m: 1.0, hours: 1.0, patrol_first: false });
                    prop_assert!(l.distance_m == 0.0 && l.hours == 0.0);
                    prop_assert!(l.case_id <= c.id);
                }
            }
        }
    }
}
