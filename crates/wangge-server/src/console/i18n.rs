//! Message catalogues: every string the console shows, per language, from
//! `web/i18n/<lang>/*.json` (nested objects flatten to dotted keys). Chinese is the default and
//! the fallback; a key missing everywhere shows as itself, and a test keeps that from happening.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use axum::http::{HeaderMap, header};
use serde_json::Value as Json;

use super::Web;

pub const LANG_COOKIE: &str = "wangge_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Lang {
    #[default]
    ZhCn,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::ZhCn, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::ZhCn => Lang::En,
            Lang::En => Lang::ZhCn,
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "zh-CN" | "zh" | "zh-cn" => Some(Lang::ZhCn),
            "en" | "en-US" | "en-GB" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language chosen with the switch (a cookie); Chinese until someone switches.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == LANG_COOKIE)
            .and_then(|(_, value)| Lang::parse(value.trim()))
            .unwrap_or_default()
    }

    /// The language of the page being rendered (its `lang` variable).
    pub fn of_state(state: &minijinja::State) -> Lang {
        state
            .lookup("lang")
            .and_then(|v| v.as_str().and_then(Lang::parse))
            .unwrap_or_default()
    }
}

#[derive(Debug, Default)]
pub struct Catalogues {
    by_lang: HashMap<Lang, BTreeMap<String, String>>,
}

impl Catalogues {
    pub fn load() -> Catalogues {
        let mut by_lang = HashMap::new();
        for lang in Lang::ALL {
            let prefix = format!("i18n/{}/", lang.code());
            let mut map = BTreeMap::new();
            for path in Web::iter().filter(|p| p.starts_with(&prefix) && p.ends_with(".json")) {
                let Some(file) = Web::get(&path) else {
                    continue;
                };
                match serde_json::from_slice::<Json>(&file.data) {
                    Ok(json) => flatten("", &json, &mut map),
                    Err(e) => {
                        tracing::error!(file = %path, error = %e, "message catalogue is not valid JSON")
                    }
                }
            }
            by_lang.insert(lang, map);
        }
        Catalogues { by_lang }
    }

    pub fn has(&self, lang: Lang, key: &str) -> bool {
        self.by_lang.get(&lang).is_some_and(|m| m.contains_key(key))
    }

    /// The text for `key`, falling back to Chinese, then to the key itself.
    pub fn text<'a>(&'a self, lang: Lang, key: &'a str) -> &'a str {
        [lang, Lang::ZhCn]
            .iter()
            .find_map(|l| self.by_lang.get(l).and_then(|m| m.get(key)))
            .map(String::as_str)
            .unwrap_or(key)
    }

    /// Every key under `prefix`, for scripts (`js.` keys go to the page as JSON).
    pub fn with_prefix(&self, lang: Lang, prefix: &str) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for l in [Lang::ZhCn, lang] {
            if let Some(m) = self.by_lang.get(&l) {
                for (k, v) in m.range(prefix.to_owned()..) {
                    let Some(rest) = k.strip_prefix(prefix) else {
                        break;
                    };
                    out.insert(rest.to_owned(), v.clone());
                }
            }
        }
        out
    }

    pub fn keys(&self, lang: Lang) -> Vec<&str> {
        self.by_lang
            .get(&lang)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

fn flatten(prefix: &str, json: &Json, out: &mut BTreeMap<String, String>) {
    match json {
        Json::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Json::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

/// Loaded once in a release build; in a debug build on every call, so edits show on reload.
pub fn catalogues() -> Arc<Catalogues> {
    static LOADED: OnceLock<Arc<Catalogues>> = OnceLock::new();
    if cfg!(debug_assertions) {
        return Arc::new(Catalogues::load());
    }
    LOADED.get_or_init(|| Arc::new(Catalogues::load())).clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wangge_domain::case::{CaseState, Source};
    use wangge_domain::case_loop::ActionName;
    use wangge_domain::role::Role;

    /// Keys the templates name literally: `t("a.b")`, and prefixes of computed ones (`t("state." ~ s)`).
    fn template_keys() -> Vec<(String, String)> {
        let mut keys = Vec::new();
        for path in Web::iter().filter(|p| p.starts_with("templates/")) {
            let Some(file) = Web::get(&path) else {
                continue;
            };
            let text = String::from_utf8_lossy(&file.data).into_owned();
            for quote in ['"', '\''] {
                let open = format!("t({quote}");
                for piece in text.split(open.as_str()).skip(1) {
                    if let Some(key) = piece.split(quote).next() {
                        keys.push((path.to_string(), key.to_owned()));
                    }
                }
            }
        }
        keys
    }

    /// Every value a computed key can take.
    fn computed(prefix: &str) -> Vec<String> {
        let values: Vec<String> = match prefix {
            "state." => CaseState::ALL
                .iter()
                .map(|s| s.as_str().to_owned())
                .chain(["suspended".to_owned()])
                .collect(),
            "source." => Source::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
            "role." => Role::ALL.iter().map(|r| r.as_str().to_owned()).collect(),
            "action." => ActionName::ALL
                .iter()
                .map(|a| a.as_str().to_owned())
                .chain(["report".into(), "absorb".into()])
                .collect(),
            "node." => [
                "confirm", "register", "dispatch", "handle", "check", "close",
            ]
            .map(String::from)
            .to_vec(),
            "light." => ["green", "yellow", "red", "paused"]
                .map(String::from)
                .to_vec(),
            "level." => ["grid", "community", "street", "district", "city"]
                .map(String::from)
                .to_vec(),
            "case.stage." => ["report", "handling", "verification", "other"]
                .map(String::from)
                .to_vec(),
            "case.payload." => ["reason", "note", "text", "unit_name", "unit"]
                .map(String::from)
                .to_vec(),
            "hotline.link." => ["created", "matched", "duplicate"]
                .map(String::from)
                .to_vec(),
            "hotline.result." => wangge_domain::hotline::VerificationResult::ALL
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            "login.error." => ["invalid_credentials", "throttled"]
                .map(String::from)
                .to_vec(),
            _ => Vec::new(),
        };
        values.into_iter().map(|v| format!("{prefix}{v}")).collect()
    }

    #[test]
    fn every_key_the_console_uses_is_in_every_catalogue() {
        let catalogues = Catalogues::load();
        let mut wanted: Vec<(String, String)> = Vec::new();
        for (file, key) in template_keys() {
            if key.ends_with('.') {
                let all = computed(&key);
                assert!(
                    !all.is_empty(),
                    "{file}: computed key prefix '{key}' is not known to this test"
                );
                wanted.extend(all.into_iter().map(|k| (file.clone(), k)));
            } else if !key.is_empty() {
                wanted.push((file, key));
            }
        }
        for role in Role::ALL {
            for (_, key) in crate::console::nav_for(role) {
                wanted.push(("nav".into(), key.to_owned()));
            }
        }
        for desk in crate::console::desks::Desk::ALL {
            wanted.push(("desks".into(), format!("desk.title.{}", desk.name())));
        }
        let mut missing = Vec::new();
        for lang in Lang::ALL {
            for (file, key) in &wanted {
                if !catalogues.has(lang, key) {
                    missing.push(format!("{} {file}: {key}", lang.code()));
                }
            }
        }
        missing.sort();
        missing.dedup();
        assert!(
            missing.is_empty(),
            "keys missing from catalogues:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn the_languages_have_the_same_keys() {
        let catalogues = Catalogues::load();
        let zh: std::collections::BTreeSet<_> = catalogues.keys(Lang::ZhCn).into_iter().collect();
        let en: std::collections::BTreeSet<_> = catalogues.keys(Lang::En).into_iter().collect();
        let only_zh: Vec<_> = zh.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&zh).collect();
        assert!(
            only_zh.is_empty() && only_en.is_empty(),
            "only in zh-CN: {only_zh:?}\nonly in en: {only_en:?}"
        );
    }

    #[test]
    fn placeholders_are_filled_and_fallback_is_chinese() {
        let catalogues = Catalogues::load();
        assert_eq!(catalogues.text(Lang::En, "no.such.key"), "no.such.key");
        assert_eq!(catalogues.text(Lang::ZhCn, "nav.map"), "指挥地图");
        assert_eq!(catalogues.text(Lang::En, "nav.map"), "Command map");
        assert_eq!(Lang::parse("en"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
    }
}
