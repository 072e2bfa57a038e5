//! 城市部件: a thing in the street (manhole cover, lamp, hydrant, …) with its identifier, who
//! owns, maintains and answers for it. Its responsible unit is where its cases are dispatched.

use std::fmt;

use crate::position::Position;

use super::{Check, FieldErrors, Fields, one_of};

/// A component identifier: GB/T 47678.5-2026's 17 digits (6-digit division, 2-digit class,
/// 3-digit subclass, 6-digit sequence) or the older CJ/T 214 16 digits (2-digit subclass),
/// which is read as the 17-digit form with the subclass padded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentCode(String);

impl ComponentCode {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if let Some(i) = t.bytes().position(|b| !b.is_ascii_digit()) {
            return Err(format!("character {} must be a digit", i + 1));
        }
        match t.len() {
            17 => Ok(ComponentCode(t.to_owned())),
            16 => Ok(ComponentCode(format!("{}0{}", &t[..8], &t[8..]))),
            n => Err(format!(
                "must be 17 digits (GB/T 47678.5) or 16 (CJ/T 214), not {n}"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn division_code(&self) -> &str {
        &self.0[..6]
    }

    /// The component subcategory of the case catalogue (class + subclass, 5 digits).
    pub fn category_code(&self) -> &str {
        &self.0[6..11]
    }
}

impl fmt::Display for ComponentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentStatus {
    InUse,
    Damaged,
    Missing,
    Removed,
}

impl ComponentStatus {
    const OPTIONS: [(&'static str, ComponentStatus); 8] = [
        ("in_use", ComponentStatus::InUse),
        ("damaged", ComponentStatus::Damaged),
        ("missing", ComponentStatus::Missing),
        ("removed", ComponentStatus::Removed),
        ("完好", ComponentStatus::InUse),
        ("损坏", ComponentStatus::Damaged),
        ("丢失", ComponentStatus::Missing),
        ("拆除", ComponentStatus::Removed),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::InUse => "in_use",
            ComponentStatus::Damaged => "damaged",
            ComponentStatus::Missing => "missing",
            ComponentStatus::Removed => "removed",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            ComponentStatus::InUse => "完好",
            ComponentStatus::Damaged => "损坏",
            ComponentStatus::Missing => "丢失",
            ComponentStatus::Removed => "拆除",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub code: ComponentCode,
    pub name: Option<String>,
    pub position: Position,
    pub grid_code: Option<String>,
    /// 权属单位, 养护单位, 责任单位: handling-unit codes.
    pub owner_unit: Option<String>,
    pub maintenance_unit: Option<String>,
    pub responsible_unit: Option<String>,
    pub status: ComponentStatus,
    /// Anything else a district records (material, size, installed on …), as JSON object text.
    pub attributes: Option<String>,
}

impl Component {
    pub const FIELDS: [&'static str; 10] = [
        "component_code",
        "name",
        "lon",
        "lat",
        "grid_code",
        "owner_unit",
        "maintenance_unit",
        "responsible_unit",
        "status",
        "attributes",
    ];

    pub fn from_fields(fields: &Fields) -> Result<Component, FieldErrors> {
        let mut check = Check::default();
        let code =
            check
                .required(fields, "component_code")
                .and_then(|t| match ComponentCode::parse(t) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        check.fail("component_code", e);
                        None
                    }
                });
        let name = check.text(fields, "name", 60);
        check.required(fields, "lon");
        let position = check.position(fields);
        let grid_code = check.region_code(fields, "grid_code", 15);
        let unit = |check: &mut Check, name: &str| check.text(fields, name, 40);
        let owner_unit = unit(&mut check, "owner_unit");
        let maintenance_unit = unit(&mut check, "maintenance_unit");
        let responsible_unit = unit(&mut check, "responsible_unit");
        let status = match fields.get("status") {
            None => Some(ComponentStatus::InUse),
            Some(_) => one_of(&mut check, fields, "status", &ComponentStatus::OPTIONS),
        };
        let attributes = fields.get("attributes").and_then(|t| {
            match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(t) {
                Ok(_) => Some(t.to_owned()),
                Err(e) => {
                    check.fail("attributes", format!("must be a JSON object: {e}"));
                    None
                }
            }
        });
        let c = match (code, position, status) {
            (Some(code), Some(position), Some(status)) => Some(Component {
                code,
                name,
                position,
                grid_code,
                owner_unit,
                maintenance_unit,
                responsible_unit,
                status,
                attributes,
            }),
            _ => None,
        };
        check.finish(c)
    }

    pub fn to_fields(&self) -> Fields {
        let mut f = Fields::new();
        f.set("component_code", self.code.as_str());
        let opt = [
            ("name", &self.name),
            ("grid_code", &self.grid_code),
            ("owner_unit", &self.owner_unit),
            ("maintenance_unit", &self.maintenance_unit),
            ("responsible_unit", &self.responsible_unit),
            ("attributes", &self.attributes),
        ];
        for (k, v) in opt {
            if let Some(v) = v {
                f.set(k, v.clone());
            }
        }
        f.set("lon", self.position.lon().to_string());
        f.set("lat", self.position.lat().to_string());
        f.set("status", self.status.as_str());
        f
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_code_forms_read_to_the_seventeen_digit_form() {
        let c = ComponentCode::parse("99010101001000123").unwrap();
        assert_eq!(c.category_code(), "01001");
        let old = ComponentCode::parse("9901010101000123").unwrap();
        assert_eq!(old, c);
        assert!(ComponentCode::parse("99010101A01000123").is_err());
    }

    #[test]
    fn a_component_reads_and_writes_back() {
        let f = Fields::new()
            .with("component_code", "99010101001000123")
            .with("lon", "114.3")
            .with("lat", "30.58")
            .with("responsible_unit", "water")
            .with("status", "损坏")
            .with("attributes", r#"{"material":"cast iron"}"#);
        let c = Component::from_fields(&f).unwrap();
        assert_eq!(c.status, ComponentStatus::Damaged);
        assert_eq!(Component::from_fields(&c.to_fields()).unwrap(), c);
        let bad = f.with("attributes", "[1]").with("lat", "");
        let e = Component::from_fields(&bad).unwrap_err();
        let names: Vec<&str> = e.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["lat", "attributes"]);
    }
}
