//! The national administrative division table (GB/T 2260) down to county level, to recognise
//! the administrative prefix of an address: 广东省深圳市南山区, 广东深圳南山, 深圳南山.
//!
//! The table is `data/divisions.csv` (see its README), compiled into the binary.

use std::sync::OnceLock;

const TABLE: &str = include_str!("../data/divisions.csv");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DivisionLevel {
    Province,
    City,
    County,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Division {
    /// Six digits: 440305.
    pub code: String,
    pub name: String,
    pub level: DivisionLevel,
}

impl Division {
    /// The names an address may use for this division: the full name, and the name without its
    /// administrative suffix when at least two characters stay (广东省 → 广东, 南山区 → 南山,
    /// 广西壮族自治区 → 广西). Placeholder rows (市辖区, 县, 省直辖县级行政区划) have none.
    pub fn spellings(&self) -> Vec<String> {
        spellings(&self.name, self.level)
    }

    /// The province this division is in: its first two digits.
    pub fn province_code(&self) -> &str {
        &self.code[..2]
    }
}

pub(crate) fn spellings(name: &str, level: DivisionLevel) -> Vec<String> {
    if name == "市辖区" || name == "县" || name.contains("直辖") {
        return Vec::new();
    }
    let mut out = vec![name.to_owned()];
    if let Some(short) = short_name(name, level)
        && short != name
    {
        out.push(short.to_owned());
    }
    out
}

/// The name without its administrative suffix, when two or more characters stay.
fn short_name(name: &str, level: DivisionLevel) -> Option<&str> {
    const ETHNIC: &[&str] = &["壮族", "回族", "维吾尔", "藏族", "蒙古族", "朝鲜族"];
    let suffixes: &[&str] = match level {
        DivisionLevel::Province => &["特别行政区", "自治区", "省", "市"],
        DivisionLevel::City => &["自治州", "地区", "市", "盟"],
        DivisionLevel::County => &["自治县", "自治旗", "新区", "区", "县", "市", "旗"],
    };
    let mut stem = suffixes.iter().find_map(|s| name.strip_suffix(s))?;
    if level == DivisionLevel::Province {
        for e in ETHNIC {
            if let Some(s) = stem.strip_suffix(e) {
                stem = s;
            }
        }
    }
    (stem.chars().count() >= 2).then_some(stem)
}

pub struct Divisions {
    rows: Vec<Division>,
}

impl Divisions {
    pub fn all(&self) -> &[Division] {
        &self.rows
    }

    pub fn by_code(&self, code: &str) -> Option<&Division> {
        self.rows
            .binary_search_by(|d| d.code.as_str().cmp(code))
            .ok()
            .map(|i| &self.rows[i])
    }

    /// The divisions that `name` may stand for (full or short spelling).
    pub fn named(&self, name: &str) -> Vec<&Division> {
        self.rows
            .iter()
            .filter(|d| d.spellings().iter().any(|s| s == name))
            .collect()
    }
}

/// The table, read once.
pub fn national() -> &'static Divisions {
    static TABLE_ONCE: OnceLock<Divisions> = OnceLock::new();
    TABLE_ONCE.get_or_init(|| {
        let mut rows: Vec<Division> = TABLE
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut f = line.split(',');
                let code = f.next()?.trim();
                let name = f.next()?.trim();
                let level = match f.next()?.trim() {
                    "province" => DivisionLevel::Province,
                    "city" => DivisionLevel::City,
                    "county" => DivisionLevel::County,
                    _ => return None,
                };
                (code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())).then(|| Division {
                    code: code.to_owned(),
                    name: name.to_owned(),
                    level,
                })
            })
            .collect();
        rows.sort_by(|a, b| a.code.cmp(&b.code));
        rows.dedup_by(|a, b| a.code == b.code);
        Divisions { rows }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_whole() {
        let t = national();
        assert_eq!(
            t.all()
                .iter()
                .filter(|d| d.level == DivisionLevel::Province)
                .count(),
            31
        );
        assert!(t.all().len() > 3000, "{}", t.all().len());
        assert_eq!(t.by_code("440305").map(|d| d.name.as_str()), Some("南山区"));
        assert_eq!(t.by_code("420100").map(|d| d.name.as_str()), Some("武汉市"));
    }

    #[test]
    fn short_spellings() {
        let t = national();
        let gx = t.by_code("450000").map(Division::spellings);
        assert_eq!(
            gx,
            Some(vec!["广西壮族自治区".to_owned(), "广西".to_owned()])
        );
        let ns = t.by_code("440305").map(Division::spellings);
        assert_eq!(ns, Some(vec!["南山区".to_owned(), "南山".to_owned()]));
        // One character would stay: no short form.
        assert_eq!(
            spellings("和县", DivisionLevel::County),
            vec!["和县".to_owned()]
        );
        assert!(spellings("市辖区", DivisionLevel::City).is_empty());
        assert!(t.named("深圳").iter().any(|d| d.code == "440300"));
    }
}
