//! The case category catalogue: GB/T 47678.5-2026 classes and subclasses by default, editable per
//! city. Each subclass carries its registration standard (立案条件), closing standard (结案条件)
//! and handling deadline.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// The national catalogue as shipped: code,kind,class_code,class_name,subclass_name,name.
pub const GBT47678_CATALOGUE_CSV: &str = include_str!("../data/gbt47678.5-2026-catalogue.csv");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CategoryKind {
    /// 管理部件: a thing in the street (manhole cover, lamp, bench …).
    Component,
    /// 管理事项: a matter (problem) that becomes a case.
    Matter,
}

impl CategoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CategoryKind::Component => "component",
            CategoryKind::Matter => "matter",
        }
    }
}

impl FromStr for CategoryKind {
    type Err = CategoryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "component" => Ok(CategoryKind::Component),
            "matter" => Ok(CategoryKind::Matter),
            other => Err(CategoryError::UnknownKind(other.to_owned())),
        }
    }
}

/// How a deadline is counted (DESIGN.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadlineType {
    /// Hours around the clock, for urgent matters.
    UrgentHours,
    /// Hours within working time on working days.
    WorkingHours,
    WorkingDays,
    NaturalDays,
}

impl DeadlineType {
    pub const ALL: [DeadlineType; 4] = [
        DeadlineType::UrgentHours,
        DeadlineType::WorkingHours,
        DeadlineType::WorkingDays,
        DeadlineType::NaturalDays,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineType::UrgentHours => "urgent_hours",
            DeadlineType::WorkingHours => "working_hours",
            DeadlineType::WorkingDays => "working_days",
            DeadlineType::NaturalDays => "natural_days",
        }
    }
}

impl fmt::Display for DeadlineType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeadlineType {
    type Err = CategoryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeadlineType::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| CategoryError::UnknownDeadlineType(s.to_owned()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Deadline {
    pub amount: u32,
    pub kind: DeadlineType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub code: String,
    pub kind: CategoryKind,
    pub class_code: String,
    pub class_name: String,
    pub name: String,
    pub registration_standard: String,
    pub closing_standard: String,
    pub deadline: Deadline,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CategoryError {
    #[error("unknown category kind '{0}': expected component or matter")]
    UnknownKind(String),
    #[error(
        "unknown deadline type '{0}': expected urgent_hours, working_hours, working_days or natural_days"
    )]
    UnknownDeadlineType(String),
    #[error("category code '{0}' must be 5 digits (2-digit class + 3-digit subclass)")]
    BadCode(String),
    #[error("catalogue line {line}: {message}")]
    BadLine { line: usize, message: String },
}

/// Validates a 5-digit category code (2-digit class + 3-digit subclass).
pub fn parse_category_code(code: &str) -> Result<&str, CategoryError> {
    let code = code.trim();
    if code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(CategoryError::BadCode(code.to_owned()))
    }
}

/// Default handling deadline of a subclass when the catalogue gives none. Local settings, not
/// part of the standard: a missing manhole cover endangers people at once; street order is
/// cleared within hours; repairs to facilities take working days.
pub fn default_deadline(kind: CategoryKind, class_code: &str, name: &str) -> Deadline {
    use DeadlineType::*;
    if name.contains("井盖") || name.contains("塌陷") || name.contains("积水") {
        return Deadline {
            amount: 2,
            kind: UrgentHours,
        };
    }
    let (amount, kind) = match (kind, class_code) {
        (CategoryKind::Component, _) => (3, WorkingDays),
        (_, "01") | (_, "02") => (2, WorkingDays),
        (_, "03") => (8, WorkingHours),
        (_, "04") | (_, "05") => (3, WorkingDays),
        (_, "06") => (4, WorkingHours),
        (_, "07") => (1, WorkingDays),
        (_, "08") => (2, WorkingDays),
        (_, "09") => (2, WorkingHours),
        _ => (5, WorkingDays),
    };
    Deadline { amount, kind }
}

/// Parses the shipped catalogue (no quoted fields in it) and fills in default standards and
/// deadlines.
pub fn parse_catalogue(csv: &str) -> Result<Vec<Category>, CategoryError> {
    let mut out = Vec::new();
    for (i, line) in csv.lines().enumerate().skip(1) {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split(',').collect();
        let [code, kind, class_code, class_name, _subclass, name] = cols.as_slice() else {
            return Err(CategoryError::BadLine {
                line: line_no,
                message: format!("expected 6 columns, found {}", cols.len()),
            });
        };
        let code = parse_category_code(code).map_err(|e| CategoryError::BadLine {
            line: line_no,
            message: e.to_string(),
        })?;
        let kind: CategoryKind =
            kind.parse()
                .map_err(|e: CategoryError| CategoryError::BadLine {
                    line: line_no,
                    message: e.to_string(),
                })?;
        if !code.starts_with(class_code) {
            return Err(CategoryError::BadLine {
                line: line_no,
                message: format!("code {code} is not in class {class_code}"),
            });
        }
        let (registration_standard, closing_standard) = default_standards(kind, name);
        out.push(Category {
            code: code.to_owned(),
            kind,
            class_code: (*class_code).to_owned(),
            class_name: (*class_name).to_owned(),
            name: (*name).to_owned(),
            registration_standard,
            closing_standard,
            deadline: default_deadline(kind, class_code, name),
        });
    }
    Ok(out)
}

/// The national catalogue with default standards and deadlines.
pub fn national_catalogue() -> Vec<Category> {
    // The shipped file is checked by a test, so this cannot fail at run time.
    parse_catalogue(GBT47678_CATALOGUE_CSV).unwrap_or_default()
}

fn default_standards(kind: CategoryKind, name: &str) -> (String, String) {
    match kind {
        CategoryKind::Matter => (
            format!("{name}：现场核实问题属实，位置明确，属于本辖区管理范围，非重复上报"),
            format!("{name}：问题已处置完毕，现场恢复正常，有处置前后照片，经网格员核查通过"),
        ),
        CategoryKind::Component => (
            format!("{name}：部件破损、缺失、被占或功能异常，权属明确"),
            format!("{name}：部件已修复或更换，功能恢复正常，经网格员核查通过"),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shipped_catalogue_parses_with_153_components_and_250_matters() {
        let cats = parse_catalogue(GBT47678_CATALOGUE_CSV).unwrap();
        let components = cats
            .iter()
            .filter(|c| c.kind == CategoryKind::Component)
            .count();
        let matters = cats
            .iter()
            .filter(|c| c.kind == CategoryKind::Matter)
            .count();
        assert_eq!((components, matters), (153, 250));
        let missing_cover = cats
            .iter()
            .find(|c| c.kind == CategoryKind::Matter && c.name.contains("井盖"))
            .unwrap();
        assert_eq!(missing_cover.deadline.kind, DeadlineType::UrgentHours);
    }

    #[test]
    fn bad_lines_name_the_line() {
        let err = parse_catalogue("h\n0100,matter,01,x,,y\n").unwrap_err();
        assert!(
            matches!(err, CategoryError::BadLine { line: 2, .. }),
            "{err}"
        );
        let err = parse_catalogue("h\n01001,matter,01,x,y\n").unwrap_err();
        assert!(
            matches!(err, CategoryError::BadLine { line: 2, .. }),
            "{err}"
        );
    }
}
