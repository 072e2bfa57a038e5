//! The region tree: city → district → street → community → unit grid, and its codes.
//!
//! Codes follow the national layout (GB/T 2260 division + street + community + grid sequence,
//! as in Beijing's DB11 and GB/T 47678.3): 6 digits for a city or district, 9 for a street,
//! 12 for a community and 15 for a unit grid. A child's code starts with its parent's code,
//! except that a district shares only the significant prefix of its city's code
//! (city 440300 → district 440303; municipality 110000 → district 110105).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A level of the region tree, from the top down.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    City,
    District,
    Street,
    Community,
    Grid,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::City,
        Level::District,
        Level::Street,
        Level::Community,
        Level::Grid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::City => "city",
            Level::District => "district",
            Level::Street => "street",
            Level::Community => "community",
            Level::Grid => "grid",
        }
    }

    /// Number of digits a code of this level has.
    pub fn code_len(self) -> usize {
        match self {
            Level::City | Level::District => 6,
            Level::Street => 9,
            Level::Community => 12,
            Level::Grid => 15,
        }
    }

    pub fn parent(self) -> Option<Level> {
        match self {
            Level::City => None,
            Level::District => Some(Level::City),
            Level::Street => Some(Level::District),
            Level::Community => Some(Level::Street),
            Level::Grid => Some(Level::Community),
        }
    }

    pub fn child(self) -> Option<Level> {
        match self {
            Level::City => Some(Level::District),
            Level::District => Some(Level::Street),
            Level::Street => Some(Level::Community),
            Level::Community => Some(Level::Grid),
            Level::Grid => None,
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Level::City => "市",
            Level::District => "区县",
            Level::Street => "街道乡镇",
            Level::Community => "社区村",
            Level::Grid => "单元网格",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| RegionError::UnknownLevel(s.to_owned()))
    }
}

/// Key areas (重点区域) get more patrols and tighter deadlines than general areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AreaClass {
    Key,
    #[default]
    General,
}

impl AreaClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AreaClass::Key => "key",
            AreaClass::General => "general",
        }
    }
}

impl FromStr for AreaClass {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "key" | "重点" | "重点区域" => Ok(AreaClass::Key),
            "general" | "一般" | "一般区域" | "" => Ok(AreaClass::General),
            other => Err(RegionError::UnknownAreaClass(other.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegionError {
    #[error("unknown level '{0}': expected city, district, street, community or grid")]
    UnknownLevel(String),
    #[error("unknown area class '{0}': expected key or general")]
    UnknownAreaClass(String),
    #[error("code '{code}' must contain digits only")]
    NotDigits { code: String },
    #[error("code '{code}' has {actual} digits; a {level} code has {expected}")]
    WrongLength {
        code: String,
        level: Level,
        expected: usize,
        actual: usize,
    },
    #[error("code '{code}' of a {level} does not start with its parent's code '{parent}'")]
    NotUnderParent {
        code: String,
        level: Level,
        parent: String,
    },
    #[error("a {level} must have a parent of level {expected}, not {actual}")]
    WrongParentLevel {
        level: Level,
        expected: Level,
        actual: Level,
    },
    #[error("a {0} needs a parent code")]
    MissingParent(Level),
    #[error("a city has no parent, but '{0}' was given")]
    UnexpectedParent(String),
    #[error("code '{code}': the sequence part after the parent's code must not be all zeros")]
    ZeroSequence { code: String },
}

/// A validated region code. The level is part of the value, so a 6-digit city code and a
/// 6-digit district code never compare equal by accident.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionCode {
    code: String,
    level: Level,
}

impl RegionCode {
    /// Checks digits and length for the level; the parent relation is checked by [`RegionCode::check_parent`].
    pub fn parse(code: &str, level: Level) -> Result<Self, RegionError> {
        let code = code.trim();
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RegionError::NotDigits {
                code: code.to_owned(),
            });
        }
        let expected = level.code_len();
        if code.len() != expected {
            return Err(RegionError::WrongLength {
                code: code.to_owned(),
                level,
                expected,
                actual: code.len(),
            });
        }
        Ok(RegionCode {
            code: code.to_owned(),
            level,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.code
    }

    pub fn level(&self) -> Level {
        self.level
    }

    /// The 6-digit district code this region lies in: the distribution key of every table that
    /// grows with the city. A city has none of its own.
    pub fn district_code(&self) -> Option<&str> {
        match self.level {
            Level::City => None,
            _ => self.code.get(..6),
        }
    }

    /// The code of the parent for levels whose parent is a strict prefix (street and below).
    pub fn parent_code(&self) -> Option<&str> {
        match self.level {
            Level::City | Level::District => None,
            Level::Street => self.code.get(..6),
            Level::Community => self.code.get(..9),
            Level::Grid => self.code.get(..12),
        }
    }

    /// Checks that `parent` may be this region's parent: one level up and a code prefix.
    pub fn check_parent(&self, parent: &RegionCode) -> Result<(), RegionError> {
        let expected = self
            .level
            .parent()
            .ok_or_else(|| RegionError::UnexpectedParent(parent.code.clone()))?;
        if parent.level != expected {
            return Err(RegionError::WrongParentLevel {
                level: self.level,
                expected,
                actual: parent.level,
            });
        }
        let prefix = match self.level {
            Level::District => significant_prefix(&parent.code),
            _ => parent.code.as_str(),
        };
        if !self.code.starts_with(prefix)
            || (self.level == Level::District && self.code == parent.code)
        {
            return Err(RegionError::NotUnderParent {
                code: self.code.clone(),
                level: self.level,
                parent: parent.code.clone(),
            });
        }
        let sequence = &self.code[prefix.len()..];
        if sequence.bytes().all(|b| b == b'0') {
            return Err(RegionError::ZeroSequence {
                code: self.code.clone(),
            });
        }
        Ok(())
    }

    /// Parses a code together with its parent's code, as they arrive in an import row.
    pub fn parse_with_parent(
        code: &str,
        level: Level,
        parent: Option<&str>,
    ) -> Result<Self, RegionError> {
        let parsed = RegionCode::parse(code, level)?;
        match (
            level.parent(),
            parent.map(str::trim).filter(|p| !p.is_empty()),
        ) {
            (None, None) => Ok(parsed),
            (None, Some(p)) => Err(RegionError::UnexpectedParent(p.to_owned())),
            (Some(pl), None) => {
                let _ = pl;
                Err(RegionError::MissingParent(level))
            }
            (Some(pl), Some(p)) => {
                let parent = RegionCode::parse(p, pl)?;
                parsed.check_parent(&parent)?;
                Ok(parsed)
            }
        }
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

/// "440300" → "4403", "110000" → "11": the part of a division code that its subdivisions share.
fn significant_prefix(code: &str) -> &str {
    let mut end = code.len();
    while end > 2 && code[..end].ends_with("00") {
        end -= 2;
    }
    &code[..end]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn grid_code_has_fifteen_digits_under_its_community() {
        let g = RegionCode::parse_with_parent("110105001002003", Level::Grid, Some("110105001002"))
            .unwrap();
        assert_eq!(g.district_code(), Some("110105"));
        assert_eq!(g.parent_code(), Some("110105001002"));
    }

    #[test]
    fn rejects_letters_wrong_length_and_foreign_prefix() {
        assert!(matches!(
            RegionCode::parse("11010500100200A", Level::Grid),
            Err(RegionError::NotDigits { .. })
        ));
        assert!(matches!(
            RegionCode::parse("1101050010020", Level::Grid),
            Err(RegionError::WrongLength {
                expected: 15,
                actual: 13,
                ..
            })
        ));
        assert!(matches!(
            RegionCode::parse_with_parent("110105001003001", Level::Grid, Some("110105001002")),
            Err(RegionError::NotUnderParent { .. })
        ));
        assert!(matches!(
            RegionCode::parse_with_parent("110105001002000", Level::Grid, Some("110105001002")),
            Err(RegionError::ZeroSequence { .. })
        ));
        assert!(matches!(
            RegionCode::parse_with_parent("110105001002001", Level::Grid, None),
            Err(RegionError::MissingParent(Level::Grid))
        ));
    }

    #[test]
    fn district_shares_significant_prefix_of_city() {
        let city = RegionCode::parse("440300", Level::City).unwrap();
        let d = RegionCode::parse("440303", Level::District).unwrap();
        d.check_parent(&city).unwrap();
        let other = RegionCode::parse("440403", Level::District).unwrap();
        assert!(other.check_parent(&city).is_err());
        let bj = RegionCode::parse("110000", Level::City).unwrap();
        RegionCode::parse("110105", Level::District)
            .unwrap()
            .check_parent(&bj)
            .unwrap();
        assert!(
            RegionCode::parse("440300", Level::District)
                .unwrap()
                .check_parent(&city)
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn any_valid_child_sequence_is_accepted(parent in "[0-9]{12}", seq in 1u32..1000) {
            let code = format!("{parent}{seq:03}");
            let parsed = RegionCode::parse_with_parent(&code, Level::Grid, Some(&parent)).unwrap();
            prop_assert_eq!(parsed.parent_code(), Some(parent.as_str()));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}", l in 0usize..5) {
            let _ = RegionCode::parse(&s, Level::ALL[l]);
        }
    }
}
