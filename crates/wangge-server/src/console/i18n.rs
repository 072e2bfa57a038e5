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
                let Some(file) = Web::get(&path) else { continue };
                match serde_json::from_slice::<Json>(&file.data) {
                    Ok(json) => flatten("", &json, &mut map),
                    Err(e) => tracing::error!(file = %path, error = %e, "message catalogue is not valid JSON"),
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
                    let Some(rest) = k.strip_prefix(prefix) else { break };
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
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
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
