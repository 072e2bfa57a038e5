//! 实有人口: a person, identified by their citizen identity number, and their residence history
//! ("来有登记，走有注销": every move in and move out is dated, so who lived in a house on any past
//! day can be answered).

use chrono::NaiveDate;
use thiserror::Error;

use crate::identity::{Gender, IdentityNumber, MobileNumber};

use super::{Check, FieldErrors, Fields, HouseCode, one_of};

/// What a district configures about its people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonSettings {
    /// The tags a person may carry (elderly, disabled, low-income, …).
    pub tags: Vec<String>,
}

impl Default for PersonSettings {
    fn default() -> Self {
        PersonSettings {
            tags: [
                "elderly",
                "living_alone",
                "disabled",
                "low_income",
                "veteran",
                "minor",
                "special_care",
                "community_correction",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub identity: IdentityNumber,
    pub name: String,
    pub phone: Option<MobileNumber>,
    pub tags: Vec<String>,
    /// 户号: the household (户) the person belongs to.
    pub household: Option<String>,
    /// 户籍地址 as written in the household register, when it is outside the district's houses.
    pub registered_address: Option<String>,
}

impl Person {
    pub const FIELDS: [&'static str; 6] = [
        "identity_number",
        "name",
        "phone",
        "tags",
        "household",
        "registered_address",
    ];

    pub fn from_fields(
        fields: &Fields,
        settings: &PersonSettings,
        today: NaiveDate,
    ) -> Result<Person, FieldErrors> {
        let mut check = Check::default();
        let identity = check.required(fields, "identity_number").and_then(|t| {
            match IdentityNumber::parse(t, today) {
                Ok(n) => Some(n),
                Err(e) => {
                    check.fail("identity_number", e.to_string());
                    None
                }
            }
        });
        let name = check.required_text(fields, "name", 50);
        if let Some(n) = &name
            && n.chars().any(|c| c.is_ascii_digit())
        {
            check.fail("name", "must not contain digits");
        }
        let phone = fields
            .get("phone")
            .and_then(|t| match MobileNumber::parse(t) {
                Ok(p) => Some(p),
                Err(e) => {
                    check.fail("phone", e.to_string());
                    None
                }
            });
        let mut tags = Vec::new();
        for t in fields
            .get("tags")
            .unwrap_or("")
            .split([',', '，', '、', ';', '；', '|'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            if !settings.tags.iter().any(|k| k == t) {
                check.fail(
                    "tags",
                    format!(
                        "'{t}' is not a tag; the tags are {}",
                        settings.tags.join(", ")
                    ),
                );
            } else if !tags.iter().any(|k: &String| k == t) {
                tags.push(t.to_owned());
            }
        }
        let household = check.text(fields, "household", 40);
        let registered_address = check.text(fields, "registered_address", 120);
        let person = match (identity, name) {
            (Some(identity), Some(name)) => Some(Person {
                identity,
                name,
                phone,
                tags,
                household,
                registered_address,
            }),
            _ => None,
        };
        check.finish(person)
    }

    pub fn to_fields(&self) -> Fields {
        let mut f = Fields::new();
        f.set("identity_number", self.identity.as_str());
        f.set("name", self.name.clone());
        if let Some(p) = &self.phone {
            f.set("phone", p.as_str());
        }
        if !self.tags.is_empty() {
            f.set("tags", self.tags.join(","));
        }
        if let Some(h) = &self.household {
            f.set("household", h.clone());
        }
        if let Some(a) = &self.registered_address {
            f.set("registered_address", a.clone());
        }
        f
    }

    pub fn gender(&self) -> Gender {
        self.identity.gender()
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.identity.birth_date()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResidenceKind {
    /// 实际居住: where the person actually lives.
    Actual,
    /// 户籍: where the person's household is registered.
    Registered,
}

impl ResidenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResidenceKind::Actual => "actual",
            ResidenceKind::Registered => "registered",
        }
    }

    pub fn parse(text: &str) -> Option<ResidenceKind> {
        match text.trim() {
            "actual" | "实际居住" | "居住" => Some(ResidenceKind::Actual),
            "registered" | "户籍" => Some(ResidenceKind::Registered),
            _ => None,
        }
    }
}

/// One stay of a person in a house.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Residence {
    pub house_code: HouseCode,
    pub kind: ResidenceKind,
    pub moved_in: NaiveDate,
    /// The day they left; `None` while they live there.
    pub moved_out: Option<NaiveDate>,
    /// 与户主关系
    pub relation: Option<String>,
}

impl Residence {
    pub const FIELDS: [&'static str; 5] = [
        "house_code",
        "residence_kind",
        "moved_in",
        "moved_out",
        "relation",
    ];

    pub fn from_fields(fields: &Fields, today: NaiveDate) -> Result<Residence, FieldErrors> {
        let mut check = Check::default();
        let house_code =
            check
                .required(fields, "house_code")
                .and_then(|t| match HouseCode::parse(t) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        check.fail("house_code", e);
                        None
                    }
                });
        let kind = match fields.get("residence_kind") {
            None => Some(ResidenceKind::Actual),
            Some(_) => one_of(
                &mut check,
                fields,
                "residence_kind",
                &[
                    ("actual", ResidenceKind::Actual),
                    ("registered", ResidenceKind::Registered),
                    ("实际居住", ResidenceKind::Actual),
                    ("户籍", ResidenceKind::Registered),
                ],
            ),
        };
        let moved_in = check
            .required(fields, "moved_in")
            .and_then(|_| check.date(fields, "moved_in"));
        let moved_out = check.date(fields, "moved_out");
        if let Some(i) = moved_in
            && i > today
        {
            check.fail("moved_in", format!("{i} is in the future"));
        }
        if let (Some(i), Some(o)) = (moved_in, moved_out)
            && o < i
        {
            check.fail("moved_out", format!("{o} is before the move in ({i})"));
        }
        let relation = check.text(fields, "relation", 20);
        let r = match (house_code, kind, moved_in) {
            (Some(house_code), Some(kind), Some(moved_in)) => Some(Residence {
                house_code,
                kind,
                moved_in,
                moved_out,
                relation,
            }),
            _ => None,
        };
        check.finish(r)
    }

    /// Lived there on `day`: moved in on or before it and not yet moved out (the move-out day
    /// itself belongs to the next home).
    pub fn on(&self, day: NaiveDate) -> bool {
        self.moved_in <= day && self.moved_out.is_none_or(|o| day < o)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResidenceError {
    #[error("moved_in: {moved_in} is before the move in of the current home ({current})")]
    BeforeCurrent {
        moved_in: NaiveDate,
        current: NaiveDate,
    },
    #[error("moved_out: {moved_out} is before the move in ({moved_in})")]
    OutBeforeIn {
        moved_in: NaiveDate,
        moved_out: NaiveDate,
    },
    #[error("the person has no current {0} residence to move out of")]
    NotLiving(&'static str),
}

/// A stored stay of one person: the residence and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stay<K> {
    pub key: K,
    pub residence: Residence,
}

impl<K: Clone> Stay<K> {
    /// Moving into `new`: a person has one current home of each kind, so an open stay of the
    /// same kind is closed on the new move-in day. Gives the key of that stay, if any.
    pub fn move_in(history: &[Stay<K>], new: &Residence) -> Result<Option<K>, ResidenceError> {
        let open = history
            .iter()
            .find(|s| s.residence.kind == new.kind && s.residence.moved_out.is_none());
        match open {
            Some(s) if new.moved_in < s.residence.moved_in => Err(ResidenceError::BeforeCurrent {
                moved_in: new.moved_in,
                current: s.residence.moved_in,
            }),
            Some(s) => Ok(Some(s.key.clone())),
            None => Ok(None),
        }
    }

    /// Moving out of the current home of `kind` on `day`: the key of the stay to close.
    pub fn move_out(
        history: &[Stay<K>],
        kind: ResidenceKind,
        day: NaiveDate,
    ) -> Result<K, ResidenceError> {
        let open = history
            .iter()
            .find(|s| s.residence.kind == kind && s.residence.moved_out.is_none())
            .ok_or(ResidenceError::NotLiving(kind.as_str()))?;
        if day < open.residence.moved_in {
            return Err(ResidenceError::OutBeforeIn {
                moved_in: open.residence.moved_in,
                moved_out: day,
            });
        }
        Ok(open.key.clone())
    }
}

/// Who lived in a house on `day`, from the stays recorded for it.
pub fn residents_on<K: Clone>(stays: &[Stay<K>], day: NaiveDate) -> Vec<K> {
    stays
        .iter()
        .filter(|s| s.residence.kind == ResidenceKind::Actual && s.residence.on(day))
        .map(|s| s.key.clone())
        .collect()
}

/// The retention rule: a person who has moved out of every home, the last time more than
/// `retention_days` before `today`, may be anonymised. A person with a current home, or never
/// housed, is kept.
pub fn anonymisable(stays: &[Residence], today: NaiveDate, retention_days: u32) -> bool {
    if stays.is_empty() || stays.iter().any(|s| s.moved_out.is_none()) {
        return false;
    }
    let last = stays.iter().filter_map(|s| s.moved_out).max();
    last.is_some_and(|d| (today - d).num_days() > i64::from(retention_days))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::identity::IdentityNumber;

    fn day(s: &str) -> NaiveDate {
        super::super::parse_date(s).unwrap()
    }

    fn today() -> NaiveDate {
        day("2026-11-24")
    }

    fn id() -> String {
        let first = "11010519491231002";
        format!("{first}{}", IdentityNumber::check_char(first))
    }

    #[test]
    fn a_person_reads_with_tags_and_writes_back() {
        let f = Fields::new()
            .with("identity_number", id())
            .with("name", "张三")
            .with("phone", "138 0013 8000")
            .with("tags", "elderly、low_income")
            .with("household", "H-001");
        let p = Person::from_fields(&f, &PersonSettings::default(), today()).unwrap();
        assert_eq!(p.tags, ["elderly", "low_income"]);
        assert_eq!(p.birth_date(), day("1949-12-31"));
        let back = Person::from_fields(&p.to_fields(), &PersonSettings::default(), today());
        assert_eq!(back.unwrap(), p);
    }

    #[test]
    fn a_bad_identity_number_is_named_with_its_reason() {
        let mut bad = id();
        bad.replace_range(17.., if bad.ends_with('X') { "1" } else { "X" });
        let f = Fields::new()
            .with("identity_number", bad)
            .with("name", "李4")
            .with("tags", "vip");
        let errs = Person::from_fields(&f, &PersonSettings::default(), today()).unwrap_err();
        let fields: Vec<&str> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["identity_number", "name", "tags"]);
        assert!(errs.0[0].message.contains("check character"), "{errs}");
    }

    fn stay(key: u32, kind: ResidenceKind, i: &str, o: Option<&str>) -> Stay<u32> {
        Stay {
            key,
            residence: Residence {
                house_code: HouseCode::parse("H000001").unwrap(),
                kind,
                moved_in: day(i),
                moved_out: o.map(day),
                relation: None,
            },
        }
    }

    #[test]
    fn residents_on_a_past_day() {
        let stays = [
            stay(1, ResidenceKind::Actual, "2020-01-01", Some("2023-06-01")),
            stay(2, ResidenceKind::Actual, "2023-06-01", None),
            stay(3, ResidenceKind::Registered, "2010-01-01", None),
        ];
        assert_eq!(residents_on(&stays, day("2021-01-01")), [1]);
        // The move-out day belongs to the next resident.
        assert_eq!(residents_on(&stays, day("2023-06-01")), [2]);
        assert!(residents_on(&stays, day("2019-12-31")).is_empty());
    }

    #[test]
    fn moving_in_closes_the_current_home_of_the_same_kind() {
        let history = [
            stay(1, ResidenceKind::Actual, "2020-01-01", None),
            stay(3, ResidenceKind::Registered, "2010-01-01", None),
        ];
        let new = stay(9, ResidenceKind::Actual, "2024-01-01", None).residence;
        assert_eq!(Stay::move_in(&history, &new), Ok(Some(1)));
        let early = stay(9, ResidenceKind::Actual, "2019-01-01", None).residence;
        assert!(Stay::move_in(&history, &early).is_err());
        assert_eq!(
            Stay::move_out(&history, ResidenceKind::Actual, day("2025-01-01")),
            Ok(1)
        );
        assert!(Stay::move_out(&history[1..], ResidenceKind::Actual, day("2025-01-01")).is_err());
    }

    #[test]
    fn residence_fields_are_checked() {
        let f = Fields::new()
            .with("house_code", "H000001")
            .with("moved_in", "2024/03/01")
            .with("moved_out", "2024-01-01");
        let errs = Residence::from_fields(&f, today()).unwrap_err();
        assert_eq!(errs.0[0].field, "moved_out");
        let f = Fields::new().with("house_code", "H000001");
        assert_eq!(
            Residence::from_fields(&f, today()).unwrap_err().0[0].field,
            "moved_in"
        );
    }

    #[test]
    fn only_people_gone_longer_than_the_retention_are_anonymisable() {
        let r = |o: Option<&str>| stay(1, ResidenceKind::Actual, "2015-01-01", o).residence;
        assert!(anonymisable(&[r(Some("2020-01-01"))], today(), 730));
        assert!(!anonymisable(&[r(Some("2026-01-01"))], today(), 730));
        assert!(!anonymisable(
            &[r(Some("2020-01-01")), r(None)],
            today(),
            730
        ));
        assert!(!anonymisable(&[], today(), 730));
    }
}
