//! Cases (案件): what is reported, where, from which source, and the append-only timeline of
//! what happened to it. The full set of transitions lives in the case loop; this module holds
//! the vocabulary and the intake of a new report.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::category::{CategoryError, parse_category_code};
use crate::position::{Position, PositionError};

/// The states of the closed loop (DESIGN.md §4). The current state of a case is derived from its
/// timeline and cached on the case row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    Reported,
    Registered,
    Invalid,
    Dispatched,
    /// Sent back by the unit as a wrong dispatch (退回); the dispatcher dispatches again.
    Returned,
    InProgress,
    Handled,
    Verified,
    Closed,
    Merged,
}

impl CaseState {
    pub const ALL: [CaseState; 10] = [
        CaseState::Reported,
        CaseState::Registered,
        CaseState::Invalid,
        CaseState::Dispatched,
        CaseState::Returned,
        CaseState::InProgress,
        CaseState::Handled,
        CaseState::Verified,
        CaseState::Closed,
        CaseState::Merged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Reported => "reported",
            CaseState::Registered => "registered",
            CaseState::Invalid => "invalid",
            CaseState::Dispatched => "dispatched",
            CaseState::Returned => "returned",
            CaseState::InProgress => "in_progress",
            CaseState::Handled => "handled",
            CaseState::Verified => "verified",
            CaseState::Closed => "closed",
            CaseState::Merged => "merged",
        }
    }

    pub fn is_open(self) -> bool {
        !matches!(
            self,
            CaseState::Invalid | CaseState::Closed | CaseState::Merged
        )
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CaseState {
    type Err = CaseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CaseState::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| CaseError::UnknownState(s.to_owned()))
    }
}

/// Where a report came from. Public sources need confirming on the spot before registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// 网格巡查: found by a grid worker on patrol.
    Patrol,
    /// 12345 政务服务便民热线
    Hotline12345,
    /// 96181 城市管理热线
    Hotline96181,
    /// 视频监控 / 智能识别
    Video,
    /// 市民 app / 小程序
    App,
    /// Open311 GeoReport clients
    Open311,
    /// 部门移交
    Department,
    /// 领导交办
    Leader,
    /// 媒体曝光
    Media,
}

impl Source {
    pub const ALL: [Source; 9] = [
        Source::Patrol,
        Source::Hotline12345,
        Source::Hotline96181,
        Source::Video,
        Source::App,
        Source::Open311,
        Source::Department,
        Source::Leader,
        Source::Media,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Patrol => "patrol",
            Source::Hotline12345 => "hotline_12345",
            Source::Hotline96181 => "hotline_96181",
            Source::Video => "video",
            Source::App => "app",
            Source::Open311 => "open311",
            Source::Department => "department",
            Source::Leader => "leader",
            Source::Media => "media",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Source::Patrol => "网格巡查",
            Source::Hotline12345 => "12345热线",
            Source::Hotline96181 => "96181热线",
            Source::Video => "视频监控",
            Source::App => "市民APP",
            Source::Open311 => "Open311",
            Source::Department => "部门移交",
            Source::Leader => "领导交办",
            Source::Media => "媒体曝光",
        }
    }

    /// Reports from the public are confirmed on the spot (核实) before they are registered.
    /// The citizens' hotlines (12345, 96181): the channel the 未诉先办 comparison is made with.
    pub fn is_hotline(self) -> bool {
        matches!(self, Source::Hotline12345 | Source::Hotline96181)
    }

    pub fn needs_confirmation(self) -> bool {
        matches!(
            self,
            Source::Hotline12345
                | Source::Hotline96181
                | Source::App
                | Source::Open311
                | Source::Media
        )
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Source {
    type Err = CaseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Source::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| CaseError::UnknownSource(s.to_owned()))
    }
}

pub const MAX_DESCRIPTION_CHARS: usize = 2000;
pub const MAX_EXTERNAL_ID_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum CaseError {
    #[error("unknown state '{0}'")]
    UnknownState(String),
    #[error(
        "unknown source '{0}': expected one of patrol, hotline_12345, hotline_96181, video, app, open311, department, leader, media"
    )]
    UnknownSource(String),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("category: {0}")]
    Category(#[from] CategoryError),
    #[error("location: {0}")]
    Position(#[from] PositionError),
}

impl CaseError {
    /// The request field the error is about, for precise error answers.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            CaseError::UnknownSource(_) => Some("source"),
            CaseError::Invalid { field, .. } => Some(field),
            CaseError::Category(_) => Some("category"),
            CaseError::Position(_) => Some("location"),
            CaseError::UnknownState(_) => Some("state"),
        }
    }
}

/// A report as it arrives, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct ReportInput {
    pub category: String,
    pub description: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub source: String,
    pub external_id: Option<String>,
    pub address: Option<String>,
    /// The city component the report is about (its 17- or 16-digit code), if any.
    pub component_code: Option<String>,
}

/// A report that passed every check that needs no storage (the category's existence and the
/// grid are looked up by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub category: String,
    pub description: String,
    pub position: Position,
    pub source: Source,
    pub external_id: Option<String>,
    pub address: Option<String>,
    pub component: Option<crate::registry::ComponentCode>,
}

impl Report {
    pub fn parse(input: ReportInput) -> Result<Report, CaseError> {
        let category = parse_category_code(&input.category)?.to_owned();
        let description = input.description.trim().to_owned();
        if description.is_empty() {
            return Err(CaseError::Invalid {
                field: "description",
                message: "must not be empty".into(),
            });
        }
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(CaseError::Invalid {
                field: "description",
                message: format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            });
        }
        let (Some(lon), Some(lat)) = (input.lon, input.lat) else {
            return Err(CaseError::Invalid {
                field: "location",
                message: "lon and lat are required: a case must have a location".into(),
            });
        };
        let position = Position::new(lon, lat)?;
        let source: Source = input.source.trim().parse()?;
        let external_id = input
            .external_id
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        if let Some(ext) = &external_id
            && ext.chars().count() > MAX_EXTERNAL_ID_CHARS
        {
            return Err(CaseError::Invalid {
                field: "external_id",
                message: format!("must be at most {MAX_EXTERNAL_ID_CHARS} characters"),
            });
        }
        let address = input
            .address
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        let component = match input
            .component_code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            None => None,
            Some(c) => Some(crate::registry::ComponentCode::parse(c).map_err(|message| {
                CaseError::Invalid {
                    field: "component_code",
                    message,
                }
            })?),
        };
        Ok(Report {
            category,
            description,
            position,
            source,
            external_id,
            address,
            component,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn input() -> ReportInput {
        ReportInput {
            category: "06001".into(),
            description: " 路边堆放垃圾 ".into(),
            lon: Some(116.4),
            lat: Some(39.9),
            source: "patrol".into(),
            external_id: Some("".into()),
            address: None,
            component_code: None,
        }
    }

    #[test]
    fn a_good_report_is_trimmed() {
        let r = Report::parse(input()).unwrap();
        assert_eq!(r.description, "路边堆放垃圾");
        assert_eq!(r.external_id, None);
        assert_eq!(r.source, Source::Patrol);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(ReportInput, &str)> = vec![
            (
                ReportInput {
                    lon: None,
                    ..input()
                },
                "location",
            ),
            (
                ReportInput {
                    lat: Some(f64::NAN),
                    ..input()
                },
                "location",
            ),
            (
                ReportInput {
                    description: "  ".into(),
                    ..input()
                },
                "description",
            ),
            (
                ReportInput {
                    category: "6001".into(),
                    ..input()
                },
                "category",
            ),
            (
                ReportInput {
                    source: "fax".into(),
                    ..input()
                },
                "source",
            ),
            (
                ReportInput {
                    external_id: Some("x".repeat(65)),
                    ..input()
                },
                "external_id",
            ),
        ];
        for (inp, field) in cases {
            let err = Report::parse(inp).unwrap_err();
            assert_eq!(err.field(), Some(field), "{err}");
        }
    }

    #[test]
    fn public_sources_need_confirmation() {
        assert!(Source::Hotline12345.needs_confirmation());
        assert!(!Source::Patrol.needs_confirmation());
    }
}
