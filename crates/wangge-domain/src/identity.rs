//! The numbers that identify people and organisations in the base data (实有人口 / 实有法人):
//! the citizen identity number (公民身份号码, GB 11643-1999), the unified social credit code
//! (统一社会信用代码, GB 32100-2015) and mobile phone numbers — parsed once, with errors that
//! say what is wrong, and masked for display (1101**********1234, 138****1234).

use std::fmt;

use chrono::{Datelike, NaiveDate};
use thiserror::Error;

/// Why a number was refused; the message names the position (1-based) where it can.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdentityError {
    #[error("must be {expected} characters, not {found}")]
    Length { expected: usize, found: usize },
    #[error("character {position} must be {expected}")]
    Character {
        position: usize,
        expected: &'static str,
    },
    #[error("the check character should be {expected}, not {found}: a digit is mistyped")]
    Check { expected: char, found: char },
    #[error("the birth date {0} is not a date")]
    BirthDate(String),
    #[error("the birth date {0} is in the future")]
    BornLater(NaiveDate),
    #[error("the birth date {0} is before 1900")]
    BornTooEarly(NaiveDate),
    #[error("{0} is not a province, region or municipality code")]
    Division(String),
    #[error("a mobile number has 11 digits starting with 13–19")]
    Mobile,
}

/// Province-level division codes (GB/T 2260), the first two digits of an identity number and of
/// every region code: a number starting otherwise was not issued on the mainland, Hong Kong,
/// Macao or Taiwan.
const PROVINCES: [u8; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

fn province_ok(digits: &str) -> bool {
    digits
        .get(..2)
        .and_then(|p| p.parse::<u8>().ok())
        .is_some_and(|p| PROVINCES.contains(&p))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
        }
    }
}

/// A citizen identity number (18 characters, GB 11643): a six-digit division code, the birth
/// date, a three-digit sequence (odd for men) and a check character (0–9 or X).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdentityNumber(String);

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

impl IdentityNumber {
    /// Parses a number as people type it (spaces around it, a lower-case x) and checks its
    /// length, characters, check character, birth date (a real date, from 1900 to `today`) and
    /// province.
    pub fn parse(text: &str, today: NaiveDate) -> Result<Self, IdentityError> {
        let s = text.trim().to_ascii_uppercase();
        let n = s.chars().count();
        if n != 18 {
            return Err(IdentityError::Length {
                expected: 18,
                found: n,
            });
        }
        for (i, c) in s.chars().enumerate() {
            let ok = c.is_ascii_digit() || (i == 17 && c == 'X');
            if !ok {
                return Err(IdentityError::Character {
                    position: i + 1,
                    expected: if i == 17 { "a digit or X" } else { "a digit" },
                });
            }
        }
        let expected = Self::check_char(&s[..17]);
        let found = s.chars().nth(17).unwrap_or_default();
        if expected != found {
            return Err(IdentityError::Check { expected, found });
        }
        if !province_ok(&s) {
            return Err(IdentityError::Division(s[..6].to_owned()));
        }
        let birth = NaiveDate::parse_from_str(&s[6..14], "%Y%m%d")
            .map_err(|_| IdentityError::BirthDate(s[6..14].to_owned()))?;
        if birth > today {
            return Err(IdentityError::BornLater(birth));
        }
        if birth.year() < 1900 {
            return Err(IdentityError::BornTooEarly(birth));
        }
        Ok(IdentityNumber(s))
    }

    /// The check character of the first 17 digits (ISO 7064 MOD 11-2).
    pub fn check_char(first17: &str) -> char {
        let sum: u32 = first17
            .bytes()
            .zip(ID_WEIGHTS)
            .map(|(b, w)| u32::from(b.wrapping_sub(b'0')) * w)
            .sum();
        ID_CHECK[(sum % 11) as usize]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The division (county) where the number was issued.
    pub fn division_code(&self) -> &str {
        &self.0[..6]
    }

    pub fn birth_date(&self) -> NaiveDate {
        // Checked in `parse`.
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").unwrap_or_default()
    }

    pub fn gender(&self) -> Gender {
        let odd = self
            .0
            .as_bytes()
            .get(16)
            .is_some_and(|b| (b - b'0') % 2 == 1);
        if odd { Gender::Male } else { Gender::Female }
    }

    /// Age in whole years on `day`.
    pub fn age_on(&self, day: NaiveDate) -> u32 {
        let birth = self.birth_date();
        let mut age = day.year() - birth.year();
        if (day.month(), day.day()) < (birth.month(), birth.day()) {
            age -= 1;
        }
        age.max(0) as u32
    }

    /// The first four and last four characters, the rest hidden: 1101**********1234.
    pub fn masked(&self) -> String {
        mask(&self.0, 4, 4)
    }
}

/// Never printed in full by accident: debug output is masked.
impl fmt::Debug for IdentityNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityNumber({})", self.masked())
    }
}

/// A unified social credit code (18 characters, GB 32100): the registering authority, the kind
/// of organisation, a six-digit division code, the nine-character organisation code and a check
/// character, from an alphabet of digits and capitals without I, O, Z, S and V.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CreditCode(String);

const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn uscc_value(c: u8) -> Option<u32> {
    USCC_ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

impl CreditCode {
    pub fn parse(text: &str) -> Result<Self, IdentityError> {
        let s = text.trim().to_ascii_uppercase();
        let n = s.chars().count();
        if n != 18 {
            return Err(IdentityError::Length {
                expected: 18,
                found: n,
            });
        }
        for (i, b) in s.bytes().enumerate() {
            let ok = if (2..8).contains(&i) {
                b.is_ascii_digit()
            } else {
                uscc_value(b).is_some()
            };
            if !ok {
                return Err(IdentityError::Character {
                    position: i + 1,
                    expected: if (2..8).contains(&i) {
                        "a digit (the division code)"
                    } else {
                        "a digit or a capital letter other than I, O, Z, S, V"
                    },
                });
            }
        }
        let expected = Self::check_char(&s[..17]);
        let found = s.chars().nth(17).unwrap_or_default();
        if expected != found {
            return Err(IdentityError::Check { expected, found });
        }
        // 100000 is the code of organisations registered nationally.
        if !(province_ok(&s[2..8]) || &s[2..8] == "100000") {
            return Err(IdentityError::Division(s[2..8].to_owned()));
        }
        Ok(CreditCode(s))
    }

    /// The check character of the first 17 characters (`'?'` if one is outside the alphabet).
    pub fn check_char(first17: &str) -> char {
        let mut sum = 0;
        for (b, w) in first17.bytes().zip(USCC_WEIGHTS) {
            match uscc_value(b) {
                Some(v) => sum += v * w,
                None => return '?',
            }
        }
        let check = (31 - sum % 31) % 31;
        char::from(USCC_ALPHABET[check as usize])
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn division_code(&self) -> &str {
        &self.0[2..8]
    }
}

/// A mainland mobile number: 11 digits starting 13–19, with an optional +86 or 86 prefix and
/// spaces or hyphens between groups.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MobileNumber(String);

impl MobileNumber {
    pub fn parse(text: &str) -> Result<Self, IdentityError> {
        let digits: String = text
            .trim()
            .trim_start_matches('+')
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        let digits = match digits.strip_prefix("86") {
            Some(rest) if rest.len() == 11 => rest.to_owned(),
            _ => digits,
        };
        let b = digits.as_bytes();
        if b.len() != 11
            || !b.iter().all(u8::is_ascii_digit)
            || b[0] != b'1'
            || !(b'3'..=b'9').contains(&b[1])
        {
            return Err(IdentityError::Mobile);
        }
        Ok(MobileNumber(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 138****1234.
    pub fn masked(&self) -> String {
        mask(&self.0, 3, 4)
    }
}

impl fmt::Debug for MobileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MobileNumber({})", self.masked())
    }
}

/// `keep_start` and `keep_end` characters shown, every other one a `*`.
pub fn mask(text: &str, keep_start: usize, keep_end: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    if n <= keep_start + keep_end {
        return "*".repeat(n);
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < keep_start || i >= n - keep_end {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
    }

    /// A valid identity number from its parts, the check character computed.
    fn id_number(division: &str, birth: NaiveDate, seq: u16) -> String {
        let first = format!("{division}{}{seq:03}", birth.format("%Y%m%d"));
        format!("{first}{}", IdentityNumber::check_char(&first))
    }

    #[test]
    fn a_known_identity_number_reads_as_its_parts() {
        // The standard's own example: 11010519491231002X, a woman born 1949-12-31 in 朝阳区.
        let n = IdentityNumber::parse(" 11010519491231002x ", today()).unwrap();
        assert_eq!(n.as_str(), "11010519491231002X");
        assert_eq!(n.division_code(), "110105");
        assert_eq!(
            n.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert_eq!(n.gender(), Gender::Female);
        assert_eq!(n.age_on(today()), 76);
        assert_eq!(n.masked(), "1101**********002X");
        assert_eq!(format!("{n:?}"), "IdentityNumber(1101**********002X)");
    }

    #[test]
    fn identity_mistakes_are_named() {
        let cases = [
            ("1101051949123100", "must be 18 characters, not 16"),
            ("11010519491231002A", "character 18 must be a digit or X"),
            ("1101051949123A002X", "character 14 must be a digit"),
            (
                "110105194912310021",
                "the check character should be X, not 1: a digit is mistyped",
            ),
        ];
        for (text, message) in cases {
            let e = IdentityNumber::parse(text, today()).unwrap_err();
            assert_eq!(e.to_string(), message, "{text}");
        }
        let feb30 = "11010519490230002";
        let bad_date = format!("{feb30}{}", IdentityNumber::check_char(feb30));
        assert!(matches!(
            IdentityNumber::parse(&bad_date, today()),
            Err(IdentityError::BirthDate(_))
        ));
        let future = id_number("110105", NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(), 1);
        assert!(matches!(
            IdentityNumber::parse(&future, today()),
            Err(IdentityError::BornLater(_))
        ));
        let nowhere = id_number("990105", NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(), 1);
        assert!(matches!(
            IdentityNumber::parse(&nowhere, today()),
            Err(IdentityError::Division(_))
        ));
    }

    #[test]
    fn a_known_credit_code_passes_and_a_changed_one_does_not() {
        let first = "91110105MA0000001";
        let code = format!("{first}{}", CreditCode::check_char(first));
        let c = CreditCode::parse(&code.to_lowercase()).unwrap();
        assert_eq!(c.division_code(), "110105");
        let e = CreditCode::parse("91110105MA00000O1X").unwrap_err();
        assert_eq!(
            e.to_string(),
            "character 16 must be a digit or a capital letter other than I, O, Z, S, V"
        );
        assert!(matches!(
            CreditCode::parse("9111010"),
            Err(IdentityError::Length { found: 7, .. })
        ));
    }

    #[test]
    fn mobile_numbers_are_normalised_and_masked() {
        let m = MobileNumber::parse("+86 138-0013-8000").unwrap();
        assert_eq!(m.as_str(), "13800138000");
        assert_eq!(m.masked(), "138****8000");
        for bad in ["1380013800", "12800138000", "010-12345678", "1380013800x"] {
            assert_eq!(
                MobileNumber::parse(bad),
                Err(IdentityError::Mobile),
                "{bad}"
            );
        }
        assert_eq!(mask("12", 1, 1), "**");
    }

    fn any_birth() -> impl Strategy<Value = NaiveDate> {
        (0i64..45_000)
            .prop_map(|d| NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(d))
    }

    proptest! {
        /// Every number made by the algorithm passes and tells back its birth date and gender.
        #[test]
        fn generated_identity_numbers_pass(p in 0usize..PROVINCES.len(), rest in 0u32..10_000, birth in any_birth(), seq in 0u16..1000) {
            prop_assume!(birth <= today());
            let division = format!("{:02}{rest:04}", PROVINCES[p]);
            let text = id_number(&division, birth, seq);
            let n = IdentityNumber::parse(&text, today()).unwrap();
            prop_assert_eq!(n.birth_date(), birth);
            prop_assert_eq!(n.gender() == Gender::Male, seq % 2 == 1);
        }

        /// Changing any one character of a valid number makes it fail.
        #[test]
        fn any_single_change_of_an_identity_number_fails(birth in any_birth(), seq in 0u16..1000, at in 0usize..18, to in 0usize..11) {
            prop_assume!(birth <= today());
            let text = id_number("110105", birth, seq);
            let mut chars: Vec<char> = text.chars().collect();
            let replacement = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'X'][to];
            prop_assume!(chars[at] != replacement);
            chars[at] = replacement;
            let changed: String = chars.into_iter().collect();
            prop_assert!(IdentityNumber::parse(&changed, today()).is_err(), "{} passed", changed);
        }

        /// Every code made by the algorithm passes; changing any one character makes it fail.
        #[test]
        fn credit_codes_pass_and_any_single_change_fails(
            head in proptest::collection::vec(0usize..31, 2),
            rest in 0u32..10_000,
            org in proptest::collection::vec(0usize..31, 9),
            at in 0usize..18,
            to in 0usize..31,
        ) {
            let pick = |i: usize| char::from(USCC_ALPHABET[i]);
            let first: String = head.iter().map(|&i| pick(i)).chain(format!("11{rest:04}").chars()).chain(org.iter().map(|&i| pick(i))).collect();
            let code = format!("{first}{}", CreditCode::check_char(&first));
            prop_assert!(CreditCode::parse(&code).is_ok(), "{} failed", code);
            let mut chars: Vec<char> = code.chars().collect();
            prop_assume!(chars[at] != pick(to));
            chars[at] = pick(to);
            let changed: String = chars.into_iter().collect();
            prop_assert!(CreditCode::parse(&changed).is_err(), "{} passed", changed);
        }

        #[test]
        fn parsing_anything_never_panics(text in "\\PC{0,24}") {
            let _ = IdentityNumber::parse(&text, today());
            let _ = CreditCode::parse(&text);
            let _ = MobileNumber::parse(&text);
        }
    }
}
