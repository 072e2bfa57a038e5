//! De-duplication of declared records (DESIGN.md §6): the same person declared twice.
//!
//! Two records are one person when
//! 1. their identity numbers are the same (compared without spaces, the check character in
//!    upper case), or
//! 2. neither has an identity number, and name, phone (digits only, without +86) and matched
//!    house code are all the same and not empty.
//!
//! The merge rule ([`MERGE_RULE`]): the earliest record is kept; a later duplicate points at it
//! and its non-empty fields fill only the kept record's empty ones. Nothing is thrown away: the
//! duplicates are listed with the record they merge into and the rule that found them.

use std::collections::HashMap;

pub const MERGE_RULE: &str = "The earliest record is kept. A later record with the same identity number, or \
    the same name, phone and matched house code (unless both carry identity numbers and they differ), is its duplicate: \
    it is listed with the kept record and the rule, and its non-empty fields fill only the kept record's empty ones.";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DedupRecord<'a> {
    pub identity_number: Option<&'a str>,
    pub name: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub house_code: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DupRule {
    IdentityNumber,
    NamePhoneHouse,
}

impl DupRule {
    pub fn as_str(self) -> &'static str {
        match self {
            DupRule::IdentityNumber => "identity_number",
            DupRule::NamePhoneHouse => "name_phone_house",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            DupRule::IdentityNumber => "身份证号相同",
            DupRule::NamePhoneHouse => "姓名、电话、房屋相同",
        }
    }
}

fn identity_key(s: &str) -> Option<String> {
    let k: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (!k.is_empty()).then_some(k)
}

fn phone_key(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let d = digits
        .strip_prefix("0086")
        .or_else(|| digits.strip_prefix("86").filter(|d| d.len() == 11))
        .unwrap_or(&digits);
    (!d.is_empty()).then(|| d.to_owned())
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// The rule, one record at a time, for files of tens of millions of records: keys are kept
/// as 128-bit hashes (two independent 64-bit hashes; about 40 bytes a record, and no two
/// different keys share one in practice), never as the text.
#[derive(Default)]
pub struct Deduper {
    by_id: HashMap<u128, usize, Hasher>,
    /// name + phone + house → the first record with them, and whether it had an identity number.
    by_contact: HashMap<u128, (usize, bool), Hasher>,
    next: usize,
}

type Hasher = foldhash::fast::FixedState;

fn key_of(parts: &[&str]) -> u128 {
    use std::hash::{BuildHasher, Hash, Hasher as _};
    let half = |seed: u64| {
        let mut h = foldhash::fast::FixedState::with_seed(seed).build_hasher();
        for p in parts {
            p.hash(&mut h);
        }
        h.finish()
    };
    (u128::from(half(0x9E37_79B9)) << 64) | u128::from(half(0x85EB_CA6B))
}

impl Deduper {
    /// The next record: the earlier record (0-based, in push order) it duplicates and the
    /// rule, or `None` when it is kept. A duplicate always points at a kept record.
    pub fn push(&mut self, r: &DedupRecord<'_>) -> Option<(usize, DupRule)> {
        let i = self.next;
        self.next += 1;
        let id = nonempty(r.identity_number)
            .and_then(identity_key)
            .map(|k| key_of(&[&k]));
        if let Some(kept) = id.and_then(|id| self.by_id.get(&id)) {
            return Some((*kept, DupRule::IdentityNumber));
        }
        let contact = match (
            nonempty(r.name),
            nonempty(r.phone).and_then(phone_key),
            nonempty(r.house_code),
        ) {
            (Some(n), Some(p), Some(h)) => Some(key_of(&[n, &p, h])),
            _ => None,
        };
        // Two different identity numbers are two people, whatever else they share.
        if let Some((kept, kept_has_id)) = contact.and_then(|k| self.by_contact.get(&k))
            && (id.is_none() || !kept_has_id)
        {
            return Some((*kept, DupRule::NamePhoneHouse));
        }
        if let Some(id) = id {
            self.by_id.insert(id, i);
        }
        if let Some(k) = contact {
            self.by_contact.entry(k).or_insert((i, id.is_some()));
        }
        None
    }
}

/// For each record, the earlier record it duplicates and the rule, or `None` when it is kept.
/// A duplicate always points at a kept record (never at another duplicate).
pub fn find_duplicates(records: &[DedupRecord<'_>]) -> Vec<Option<(usize, DupRule)>> {
    let mut d = Deduper::default();
    records.iter().map(|r| d.push(r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec<'a>(id: &'a str, name: &'a str, phone: &'a str, house: &'a str) -> DedupRecord<'a> {
        let o = |s: &'a str| (!s.is_empty()).then_some(s);
        DedupRecord {
            identity_number: o(id),
            name: o(name),
            phone: o(phone),
            house_code: o(house),
        }
    }

    #[test]
    fn by_identity_then_by_contact() {
        let rs = [
            rec("11010519491231002x", "张三", "13800138000", "H1"),
            rec("", "李四", "13900139000", "H2"),
            rec("11010519491231002X", "张三", "", "H9"),
            rec("", "李四", "+86 139-0013-9000", "H2"),
            rec("", "李四", "13900139000", "H3"),
            rec("110105194912310029", "李四", "13900139000", "H2"),
            rec("", "王五", "", "H2"),
            rec("", "王五", "", "H2"),
        ];
        let d = find_duplicates(&rs);
        assert_eq!(
            d,
            vec![
                None,
                None,
                Some((0, DupRule::IdentityNumber)),
                Some((1, DupRule::NamePhoneHouse)),
                None,
                // One identity number and one without: the contact decides.
                Some((1, DupRule::NamePhoneHouse)),
                None,
                // Without a phone nothing proves these are one person.
                None,
            ]
        );
    }
}
