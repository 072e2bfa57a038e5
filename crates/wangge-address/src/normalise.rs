//! One spelling for the many ways a declared address is written.
//!
//! The output keeps only what carries the address: CJK characters, ASCII digits and letters, and
//! a hyphen between digits (3-2-501). Markers are folded to one form each:
//!
//! | written | becomes |
//! |---|---|
//! | full-width ＡＢ１２－ | AB12- |
//! | 十二, 二十一, 一百零五, 二〇一, 两 | 12, 21, 105, 201, 2 |
//! | 幢, 座, 号楼, 栋楼, 楼 (after a building number) | 栋 |
//! | 房, 号房, 房间, 户 (a room) | 室 |
//! | 层 | 楼 is kept as a floor only when followed by a room |
//!
//! Noise goes: phone numbers (11 digits from 1[3-9], or 0xx-xxxxxxx landlines), "附近", "旁边",
//! "对面", "门口", brackets and what they hold, punctuation and spaces.

/// The normalised form of `text` (see the module documentation). Never fails; an address of
/// nothing but noise becomes the empty string.
pub fn normalise(text: &str) -> String {
    let folded = fold_chars(text);
    let no_brackets = drop_brackets(&folded);
    let numerals = chinese_numerals(&no_brackets);
    let no_phones = drop_phones(&numerals);
    let words = drop_noise_words(&no_phones);
    fold_markers(&words)
}

/// Full-width to half-width, letters to upper case, and everything that is neither CJK, ASCII
/// alphanumeric, a hyphen or a bracket to a space (a separator, dropped later).
fn fold_chars(text: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(' '),
            '\u{3000}' => ' ',
            '—' | '–' | '~' | '_' | '/' | '#' => '-',
            '【' | '〔' => '(',
            '】' | '〕' => ')',
            _ => c,
        };
        let c = c.to_ascii_uppercase();
        if c.is_ascii_alphanumeric() || c == '-' || c == '(' || c == ')' || is_cjk(c) {
            out.push(c);
        } else {
            out.push(' ');
        }
    }
    out
}

pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '〇')
}

/// Brackets hold remarks (（张三）, (近地铁站)); an unclosed bracket keeps what follows.
fn drop_brackets(text: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    let mut depth = 0usize;
    let mut held = Vec::new();
    for &c in text {
        match c {
            '(' => {
                depth += 1;
                held.clear();
            }
            ')' if depth > 0 => {
                depth -= 1;
                // A bracketed building, unit or room is part of the address: 3栋(2单元).
                if held.iter().any(|c| "号栋幢座单元室房层楼".contains(*c)) {
                    out.append(&mut held);
                }
                held.clear();
            }
            ')' => out.push(' '),
            _ if depth > 0 => held.push(c),
            _ => out.push(c),
        }
    }
    out.extend(held);
    out
}

fn digit_of(c: char) -> Option<u32> {
    Some(match c {
        '零' | '〇' => 0,
        '一' | '壹' | '幺' => 1,
        '二' | '贰' | '两' => 2,
        '三' | '叁' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        _ => return None,
    })
}

fn unit_of(c: char) -> Option<u32> {
    match c {
        '十' | '拾' => Some(10),
        '百' | '佰' => Some(100),
        '千' | '仟' => Some(1000),
        _ => None,
    }
}

/// The characters that follow a number in an address; a Chinese numeral is converted only when
/// one of them (or a hyphen, or the end) follows, so place names such as 三里屯 and 五一路 keep
/// their characters.
fn is_number_marker(c: char) -> bool {
    matches!(
        c,
        '号' | '栋'
            | '幢'
            | '座'
            | '楼'
            | '单'
            | '门'
            | '室'
            | '房'
            | '层'
            | '户'
            | '弄'
            | '巷'
            | '-'
            | '区'
            | '期'
            | '排'
            | '组'
    )
}

/// Chinese numerals before a marker become Arabic digits: 十二号 → 12号, 二〇一室 → 201室,
/// 一百零五 → 105, 三单元 → 3单元.
fn chinese_numerals(text: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let start = i;
        while i < text.len() && (digit_of(text[i]).is_some() || unit_of(text[i]).is_some()) {
            i += 1;
        }
        if i == start {
            out.push(text[i]);
            i += 1;
            continue;
        }
        let run = &text[start..i];
        let followed = text.get(i).copied();
        // At the end or before a space only a numeral of two characters or more is taken as a
        // number: 张三 stays a name, 五零一 becomes 501.
        let convert = match followed {
            None | Some(' ') => run.len() >= 2,
            Some(c) => is_number_marker(c) || c.is_ascii_digit(),
        };
        // 第三 (the third) is also a number; after 第 keep it only as digits.
        match (convert, numeral_value(run)) {
            (true, Some(digits)) => out.extend(digits.chars()),
            _ => out.extend_from_slice(run),
        }
    }
    out
}

/// The value of a run of Chinese numerals: positional (二〇一 → "201") when it has no unit
/// characters, else by units (一百零五 → "105", 十二 → "12").
fn numeral_value(run: &[char]) -> Option<String> {
    if run.iter().all(|&c| digit_of(c).is_some()) {
        return Some(
            run.iter()
                .filter_map(|&c| digit_of(c))
                .map(|d| char::from_digit(d, 10).unwrap_or('0'))
                .collect(),
        );
    }
    let mut total: u32 = 0;
    let mut pending: Option<u32> = None;
    for &c in run {
        if let Some(d) = digit_of(c) {
            pending = Some(d);
        } else if let Some(u) = unit_of(c) {
            let n = pending.take().unwrap_or(1);
            total = total.checked_add(n.checked_mul(u)?)?;
        }
    }
    total = total.checked_add(pending.unwrap_or(0))?;
    Some(total.to_string())
}

/// Mobile numbers (1[3-9] + 9 digits) and landlines (0 + 2–3 digits, a hyphen, 7–8 digits) are
/// contact details written into the address field, not part of it.
fn drop_phones(text: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_digit() && (i == 0 || !text[i - 1].is_ascii_digit()) {
            let mut j = i;
            while j < text.len() && (text[j].is_ascii_digit() || text[j] == '-') {
                j += 1;
            }
            let run: String = text[i..j].iter().collect();
            let digits: String = run.chars().filter(char::is_ascii_digit).collect();
            let mobile = digits.len() == 11
                && digits.starts_with('1')
                && matches!(digits.as_bytes()[1], b'3'..=b'9');
            let landline =
                run.starts_with('0') && (10..=12).contains(&digits.len()) && run.contains('-');
            let long = digits.len() >= 9;
            if mobile || landline || long {
                out.push(' ');
                i = j;
                continue;
            }
            out.extend_from_slice(&text[i..j]);
            i = j;
            continue;
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

const NOISE_WORDS: &[&str] = &[
    "附近",
    "旁边",
    "对面",
    "门口",
    "隔壁",
    "联系电话",
    "电话",
    "手机",
    "联系人",
    "地址",
    "住址",
    "现住",
    "居住",
    "中国",
    "家里",
    "楼下",
];

fn drop_noise_words(text: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    'chars: while i < text.len() {
        let c = text[i];
        // Most characters start no noise word: test the first character before the words.
        if NOISE_WORDS.iter().any(|w| w.starts_with(c)) {
            for w in NOISE_WORDS {
                let n = w.chars().count();
                if text.len() - i >= n && w.chars().zip(&text[i..]).all(|(a, &b)| a == b) {
                    out.push(' ');
                    i += n;
                    continue 'chars;
                }
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Marker variants to one form, and separators removed. A hyphen survives only between digits.
fn fold_markers(text: &[char]) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    let n = text.len();
    let mut i = 0;
    let prev_digit = |out: &String| {
        out.chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric())
    };
    while i < n {
        let c = text[i];
        let next = text.get(i + 1).copied();
        match c {
            ' ' => {}
            '-' => {
                let before = prev_digit(&out);
                let after = text[i + 1..]
                    .iter()
                    .find(|c| **c != ' ')
                    .is_some_and(|c| c.is_ascii_alphanumeric());
                if before && after && !out.ends_with('-') {
                    out.push('-');
                }
            }
            '幢' | '座' if prev_digit(&out) => out.push('栋'),
            '号' if next == Some('楼') && prev_digit(&out) => {
                out.push('栋');
                i += 1;
            }
            '栋' if next == Some('楼') => {
                out.push('栋');
                i += 1;
            }
            '楼' if prev_digit(&out) => {
                // 3楼502 is a floor before a room; 3楼2单元 is a building.
                let rest: String = text[i + 1..].iter().take(4).collect();
                if rest.starts_with(|c: char| c.is_ascii_digit()) && !rest.contains('单') {
                    out.push('层');
                } else {
                    out.push('栋');
                }
            }
            '房' if next == Some('间') && prev_digit(&out) => {
                out.push('室');
                i += 1;
            }
            '房' | '户' if prev_digit(&out) => out.push('室'),
            '单' if next == Some('元') => {
                out.push_str("单元");
                i += 1;
            }
            '门' if prev_digit(&out) && next != Some('牌') => out.push_str("单元"),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerals_widths_and_markers() {
        assert_eq!(normalise("建设路十二号"), "建设路12号");
        assert_eq!(
            normalise("建设路１２号３幢２单元５０１房"),
            "建设路12号3栋2单元501室"
        );
        assert_eq!(normalise("二〇一室"), "201室");
        assert_eq!(normalise("一百零五号"), "105号");
        assert_eq!(normalise("二十一号楼三单元"), "21栋3单元");
        assert_eq!(normalise("5座2门301"), "5栋2单元301");
        assert_eq!(normalise("两单元"), "2单元");
    }

    #[test]
    fn place_names_keep_their_numerals() {
        assert_eq!(normalise("三里屯路8号"), "三里屯路8号");
        assert_eq!(normalise("五一路3号"), "五一路3号");
    }

    #[test]
    fn noise_goes() {
        assert_eq!(
            normalise("建设路12号 3栋 501（张三 13812345678）附近"),
            "建设路12号3栋501"
        );
        assert_eq!(normalise("电话:027-87654321 建设路12号"), "建设路12号");
        assert_eq!(normalise("，。！"), "");
    }

    #[test]
    fn hyphenated_numbers_keep_their_hyphens() {
        assert_eq!(normalise("建设路12号3－2－501"), "建设路12号3-2-501");
        assert_eq!(normalise("3 - 2 - 501"), "3-2-501");
    }
}
