//! The registered base data (基础数据, DESIGN.md §3): houses with their house codes, people with
//! their residence history, organisations and city components — "人进户，户进房，房进网格，网格进图".
//!
//! Every record arrives the same way, whether typed into a form, sent to the API, proposed by a
//! grid worker or read from a row of an Excel file: as named text fields ([`Fields`]). Each kind
//! parses them in one place, collecting *every* bad field with what was expected, so an import's
//! dry run can list all of a row's problems at once.

mod change;
mod component;
mod house;
mod organisation;
mod person;

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;

pub use change::{Change, ChangeError, ChangeOp, ChangeState, RecordKind, Version, as_of};
pub use component::{Component, ComponentCode, ComponentStatus};
pub use house::{Address, House, HouseCode, HouseUse};
pub use organisation::{OrgKind, Organisation};
pub use person::{
    Person, PersonSettings, Residence, ResidenceError, ResidenceKind, Stay, anonymisable,
    residents_on,
};

/// A record as named text fields. Names are the API's and the import mapping's (`house_code`,
/// `identity_number`, …); empty values count as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Fields(BTreeMap<String, String>);

impl Fields {
    pub fn new() -> Self {
        Fields::default()
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.0.insert(name.into(), value.into());
        self
    }

    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(name, value);
        self
    }

    /// The trimmed value, `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// These fields with `other`'s laid over them: how an update proposal applies to a record.
    pub fn overlaid(&self, other: &Fields) -> Fields {
        let mut out = self.clone();
        for (k, v) in &other.0 {
            out.0.insert(k.clone(), v.clone());
        }
        out
    }
}

impl FromIterator<(String, String)> for Fields {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Fields(iter.into_iter().collect())
    }
}

/// One bad field: its name and what was expected instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every bad field of one record, in field order of discovery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}

/// Collects the errors of one record while its fields are read.
#[derive(Debug, Default)]
pub(crate) struct Check {
    errors: Vec<FieldError>,
}

impl Check {
    pub(crate) fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// The value of a required field, or an error naming it.
    pub(crate) fn required<'f>(&mut self, fields: &'f Fields, name: &str) -> Option<&'f str> {
        let v = fields.get(name);
        if v.is_none() {
            self.fail(name, "is required");
        }
        v
    }

    /// Free text of at most `max` characters, without control characters.
    pub(crate) fn text(&mut self, fields: &Fields, name: &str, max: usize) -> Option<String> {
        let v = fields.get(name)?;
        if v.chars().count() > max {
            self.fail(name, format!("must be at most {max} characters"));
            return None;
        }
        if v.chars().any(char::is_control) {
            self.fail(name, "must not contain control characters");
            return None;
        }
        Some(v.to_owned())
    }

    pub(crate) fn required_text(
        &mut self,
        fields: &Fields,
        name: &str,
        max: usize,
    ) -> Option<String> {
        self.required(fields, name)?;
        self.text(fields, name, max)
    }

    pub(crate) fn date(&mut self, fields: &Fields, name: &str) -> Option<NaiveDate> {
        let v = fields.get(name)?;
        match parse_date(v) {
            Some(d) => Some(d),
            None => {
                self.fail(name, format!("'{v}' is not a date: expected YYYY-MM-DD"));
                None
            }
        }
    }

    pub(crate) fn number(&mut self, fields: &Fields, name: &str) -> Option<f64> {
        let v = fields.get(name)?;
        match v.parse::<f64>() {
            Ok(n) if n.is_finite() => Some(n),
            _ => {
                self.fail(name, format!("'{v}' is not a number"));
                None
            }
        }
    }

    /// A code of the region tree (digits), checked only for its form here: the server knows
    /// which regions exist.
    pub(crate) fn region_code(
        &mut self,
        fields: &Fields,
        name: &str,
        len: usize,
    ) -> Option<String> {
        let v = fields.get(name)?;
        if v.len() == len && v.bytes().all(|b| b.is_ascii_digit()) {
            Some(v.to_owned())
        } else {
            self.fail(name, format!("'{v}' must be a {len}-digit region code"));
            None
        }
    }

    pub(crate) fn position(&mut self, fields: &Fields) -> Option<crate::position::Position> {
        let lon = self.number(fields, "lon");
        let lat = self.number(fields, "lat");
        match (lon, lat, fields.get("lon"), fields.get("lat")) {
            (Some(lon), Some(lat), _, _) => match crate::position::Position::new(lon, lat) {
                Ok(p) => Some(p),
                Err(e) => {
                    self.fail("lon", e.to_string());
                    None
                }
            },
            (_, _, Some(_), None) => {
                self.fail("lat", "is required when lon is given");
                None
            }
            (_, _, None, Some(_)) => {
                self.fail("lon", "is required when lat is given");
                None
            }
            _ => None,
        }
    }

    pub(crate) fn finish<T>(self, value: Option<T>) -> Result<T, FieldErrors> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(FieldErrors(self.errors)),
        }
    }
}

/// `YYYY-MM-DD`, also `YYYY/MM/DD`, `YYYY.MM.DD` and `YYYYMMDD` as spreadsheets write them.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    let t = t.split([' ', 'T']).next().unwrap_or(t);
    for f in ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(t, f) {
            return Some(d);
        }
    }
    None
}

/// One of the listed words, or an error listing them.
pub(crate) fn one_of<T: Copy>(
    check: &mut Check,
    fields: &Fields,
    name: &str,
    options: &[(&str, T)],
) -> Option<T> {
    let v = fields.get(name)?;
    if let Some((_, t)) = options.iter().find(|(k, _)| *k == v) {
        return Some(*t);
    }
    let words: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
    check.fail(name, format!("'{v}' is not one of {}", words.join(", ")));
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Field values as they come from spreadsheets and forms: anything, often near-valid.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            ".*",
            "[0-9]{1,20}",
            "[0-9]{17}[0-9X]",
            "-?[0-9]{1,3}\\.[0-9]{1,8}",
            "[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}",
            Just(String::new()),
        ]
    }

    fn fields(names: &'static [&'static str]) -> impl Strategy<Value = Fields> {
        proptest::collection::vec(value(), names.len()).prop_map(move |values| {
            names
                .iter()
                .zip(values)
                .map(|(n, v)| ((*n).to_owned(), v))
                .collect()
        })
    }

    fn today() -> NaiveDate {
        parse_date("2026-11-24").unwrap()
    }

    proptest! {
        /// No input makes a record's check panic, and whatever passes writes back to the same
        /// record: the fields stored are enough to rebuild it.
        #[test]
        fn every_kind_checks_any_fields_and_round_trips(
            h in fields(&House::FIELDS),
            p in fields(&Person::FIELDS),
            r in fields(&Residence::FIELDS),
            o in fields(&Organisation::FIELDS),
            c in fields(&Component::FIELDS),
        ) {
            if let Ok(house) = House::from_fields(&h) {
                prop_assert_eq!(House::from_fields(&house.to_fields()).unwrap(), house);
            }
            let settings = PersonSettings::default();
            if let Ok(person) = Person::from_fields(&p, &settings, today()) {
                let back = Person::from_fields(&person.to_fields(), &settings, today()).unwrap();
                prop_assert_eq!(back, person);
            }
            let _ = Residence::from_fields(&r, today());
            if let Ok(org) = Organisation::from_fields(&o) {
                prop_assert_eq!(Organisation::from_fields(&org.to_fields()).unwrap(), org);
            }
            if let Ok(component) = Component::from_fields(&c) {
                prop_assert_eq!(Component::from_fields(&component.to_fields()).unwrap(), component);
            }
        }

        #[test]
        fn codes_parse_without_panicking(text in ".*") {
            let _ = HouseCode::parse(&text);
            let _ = ComponentCode::parse(&text);
            let _ = parse_date(&text);
        }

        /// A 16-digit CJ/T 214 code and its 17-digit form name the same component.
        #[test]
        fn old_component_codes_read_as_new(division in "[1-9][0-9]{5}", class in "[0-9]{2}",
                                           sub in "[0-9]{2}", seq in "[0-9]{6}") {
            let old = ComponentCode::parse(&format!("{division}{class}{sub}{seq}")).unwrap();
            let new = ComponentCode::parse(&format!("{division}{class}0{sub}{seq}")).unwrap();
            prop_assert_eq!(old.category_code(), format!("{class}0{sub}"));
            prop_assert_eq!(old, new);
        }
    }
}
