//! 实有房屋: a room with its house code (房屋编码), the structured parts of its address, what it
//! is used for, where it stands and the grid it belongs to.

use std::fmt;

use crate::position::Position;

use super::{Check, FieldErrors, Fields};

/// A house code: the key of the unified address system, one per room. Districts issue their own
/// (e.g. the community code, then building, unit and room numbers), so the form checked is
/// loose: 6–40 characters of digits, capital letters and hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HouseCode(String);

impl HouseCode {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim().to_ascii_uppercase();
        let n = t.chars().count();
        if !(6..=40).contains(&n) {
            return Err(format!("must be 6 to 40 characters, not {n}"));
        }
        if let Some((i, c)) = t
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_digit() || c.is_ascii_uppercase() || *c == '-'))
        {
            return Err(format!(
                "character {} ('{c}') must be a digit, a capital letter or '-'",
                i + 1
            ));
        }
        Ok(HouseCode(t))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HouseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HouseUse {
    Residential,
    /// 出租屋: watched more closely (floating population, safety).
    Rental,
    Shop,
    Office,
    School,
    Hospital,
    Factory,
    Warehouse,
    Public,
    Vacant,
    Other,
}

impl HouseUse {
    pub const ALL: [HouseUse; 11] = [
        HouseUse::Residential,
        HouseUse::Rental,
        HouseUse::Shop,
        HouseUse::Office,
        HouseUse::School,
        HouseUse::Hospital,
        HouseUse::Factory,
        HouseUse::Warehouse,
        HouseUse::Public,
        HouseUse::Vacant,
        HouseUse::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HouseUse::Residential => "residential",
            HouseUse::Rental => "rental",
            HouseUse::Shop => "shop",
            HouseUse::Office => "office",
            HouseUse::School => "school",
            HouseUse::Hospital => "hospital",
            HouseUse::Factory => "factory",
            HouseUse::Warehouse => "warehouse",
            HouseUse::Public => "public",
            HouseUse::Vacant => "vacant",
            HouseUse::Other => "other",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            HouseUse::Residential => "住宅",
            HouseUse::Rental => "出租屋",
            HouseUse::Shop => "商铺",
            HouseUse::Office => "办公",
            HouseUse::School => "学校",
            HouseUse::Hospital => "医院",
            HouseUse::Factory => "厂房",
            HouseUse::Warehouse => "仓库",
            HouseUse::Public => "公共设施",
            HouseUse::Vacant => "空置",
            HouseUse::Other => "其他",
        }
    }

    /// The English key or the Chinese word, as a department's spreadsheet may have either.
    pub fn parse(text: &str) -> Option<HouseUse> {
        let t = text.trim();
        HouseUse::ALL
            .into_iter()
            .find(|u| u.as_str() == t || u.zh() == t)
    }
}

/// The structured parts of an address, from the province down to the room. Parts a district
/// does not use stay empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub province: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
    pub street: Option<String>,
    pub community: Option<String>,
    /// 路/街/巷
    pub road: Option<String>,
    /// 门牌号
    pub number: Option<String>,
    /// 楼栋
    pub building: Option<String>,
    /// 单元
    pub unit: Option<String>,
    pub floor: Option<i32>,
    /// 室
    pub room: Option<String>,
}

impl Address {
    pub const PARTS: [&'static str; 10] = [
        "province",
        "city",
        "district",
        "street",
        "community",
        "road",
        "number",
        "building",
        "unit",
        "room",
    ];

    fn parts(&self) -> [&Option<String>; 10] {
        [
            &self.province,
            &self.city,
            &self.district,
            &self.street,
            &self.community,
            &self.road,
            &self.number,
            &self.building,
            &self.unit,
            &self.room,
        ]
    }

    /// The address as one line, the way it is written in Chinese: 示范省示范市…路12号3栋2单元501室.
    pub fn line(&self) -> String {
        let mut s = String::new();
        let suffix = |part: &str, mark: &str| -> String {
            if part.ends_with(mark) || part.chars().any(|c| !c.is_ascii_alphanumeric()) {
                part.to_owned()
            } else {
                format!("{part}{mark}")
            }
        };
        for (i, p) in self.parts().into_iter().enumerate() {
            let Some(p) = p else { continue };
            match Address::PARTS[i] {
                "number" => s.push_str(&suffix(p, "号")),
                "building" => s.push_str(&suffix(p, "栋")),
                "unit" => s.push_str(&suffix(p, "单元")),
                "room" => s.push_str(&suffix(p, "室")),
                _ => s.push_str(p),
            }
        }
        s
    }

    /// The building this room is in, for checking that a building's rooms share one grid.
    pub fn building_key(&self) -> Option<String> {
        let road = self.road.as_deref()?;
        let number = self.number.as_deref()?;
        Some(format!(
            "{road}|{number}|{}",
            self.building.as_deref().unwrap_or("")
        ))
    }

    fn read(check: &mut Check, fields: &Fields) -> Address {
        let mut a = Address::default();
        for (i, name) in Address::PARTS.iter().enumerate() {
            let v = check.text(fields, name, 60);
            let slot = match i {
                0 => &mut a.province,
                1 => &mut a.city,
                2 => &mut a.district,
                3 => &mut a.street,
                4 => &mut a.community,
                5 => &mut a.road,
                6 => &mut a.number,
                7 => &mut a.building,
                8 => &mut a.unit,
                _ => &mut a.room,
            };
            *slot = v;
        }
        if let Some(f) = fields.get("floor") {
            match f.parse::<i32>() {
                Ok(n) if (-10..=200).contains(&n) && n != 0 => a.floor = Some(n),
                _ => check.fail(
                    "floor",
                    format!("'{f}' must be a floor number from -10 to 200, not 0"),
                ),
            }
        }
        a
    }

    pub fn write(&self, out: &mut Fields) {
        for (i, p) in self.parts().into_iter().enumerate() {
            if let Some(p) = p {
                out.set(Address::PARTS[i], p.clone());
            }
        }
        if let Some(f) = self.floor {
            out.set("floor", f.to_string());
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct House {
    pub code: HouseCode,
    /// As given; the server resolves the grid from the position and checks the two agree.
    pub grid_code: Option<String>,
    pub address: Address,
    pub usage: HouseUse,
    pub position: Option<Position>,
    pub area_m2: Option<f64>,
}

impl House {
    pub const FIELDS: [&'static str; 17] = [
        "house_code",
        "grid_code",
        "province",
        "city",
        "district",
        "street",
        "community",
        "road",
        "number",
        "building",
        "unit",
        "floor",
        "room",
        "use",
        "lon",
        "lat",
        "area_m2",
    ];

    pub fn from_fields(fields: &Fields) -> Result<House, FieldErrors> {
        let mut check = Check::default();
        let code = check
            .required(fields, "house_code")
            .and_then(|t| match HouseCode::parse(t) {
                Ok(c) => Some(c),
                Err(e) => {
                    check.fail("house_code", e);
                    None
                }
            });
        let grid_code = check.region_code(fields, "grid_code", 15);
        let address = Address::read(&mut check, fields);
        let usage = match fields.get("use") {
            None => Some(HouseUse::Residential),
            Some(t) => match HouseUse::parse(t) {
                Some(u) => Some(u),
                None => {
                    let words: Vec<&str> = HouseUse::ALL.iter().map(|u| u.as_str()).collect();
                    check.fail("use", format!("'{t}' is not one of {}", words.join(", ")));
                    None
                }
            },
        };
        let position = check.position(fields);
        let area_m2 = check.number(fields, "area_m2");
        if let Some(a) = area_m2
            && !(0.0..=1_000_000.0).contains(&a)
        {
            check.fail("area_m2", "must be between 0 and 1,000,000 m²");
        }
        if grid_code.is_none() && fields.get("grid_code").is_none() && position.is_none() {
            check.fail("grid_code", "give the grid code or the position (lon, lat)");
        }
        let house = match (code, usage) {
            (Some(code), Some(usage)) => Some(House {
                code,
                grid_code,
                address,
                usage,
                position,
                area_m2,
            }),
            _ => None,
        };
        check.finish(house)
    }

    pub fn to_fields(&self) -> Fields {
        let mut f = Fields::new();
        f.set("house_code", self.code.as_str());
        if let Some(g) = &self.grid_code {
            f.set("grid_code", g.clone());
        }
        self.address.write(&mut f);
        f.set("use", self.usage.as_str());
        if let Some(p) = self.position {
            f.set("lon", p.lon().to_string());
            f.set("lat", p.lat().to_string());
        }
        if let Some(a) = self.area_m2 {
            f.set("area_m2", a.to_string());
        }
        f
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn room() -> Fields {
        Fields::new()
            .with("house_code", "990101001001-0003-02-0501")
            .with("grid_code", "990101001001001")
            .with("road", "和平路")
            .with("number", "12")
            .with("building", "3")
            .with("unit", "2")
            .with("floor", "5")
            .with("room", "501")
            .with("use", "出租屋")
            .with("lon", "114.3")
            .with("lat", "30.58")
    }

    #[test]
    fn a_room_reads_and_writes_back() {
        let h = House::from_fields(&room()).unwrap();
        assert_eq!(h.usage, HouseUse::Rental);
        assert_eq!(h.address.floor, Some(5));
        assert_eq!(h.address.line(), "和平路12号3栋2单元501室");
        assert_eq!(House::from_fields(&h.to_fields()).unwrap(), h);
    }

    #[test]
    fn every_bad_field_is_named() {
        let f = room()
            .with("house_code", "ab")
            .with("floor", "0")
            .with("use", "castle")
            .with("lat", "x");
        let errs = House::from_fields(&f).unwrap_err();
        let names: Vec<&str> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["house_code", "floor", "use", "lat"]);
    }

    #[test]
    fn a_house_needs_a_grid_or_a_position() {
        let f = Fields::new().with("house_code", "H000001");
        let errs = House::from_fields(&f).unwrap_err();
        assert_eq!(errs.0[0].field, "grid_code");
    }

    #[test]
    fn house_codes_are_upper_cased_and_checked() {
        assert_eq!(HouseCode::parse(" h-00012 ").unwrap().as_str(), "H-00012");
        assert!(
            HouseCode::parse("H 0001")
                .unwrap_err()
                .contains("character 2")
        );
    }
}
