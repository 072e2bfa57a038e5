//! The two formats of GeoReport v2: one small tree of values written either as XML (the spec's
//! mandatory format, with the element names the spec gives) or as JSON (the same names; lists
//! become arrays). Errors in the spec's own shape, with the HTTP status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

/// The format, chosen by the path's extension (`services.xml`, `services.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
}

/// A path segment split into its stem and format: `services.json` → (`services`, Json). Without
/// an extension the answer is XML, the spec's default. An unknown extension is an error naming it.
pub fn split_format(segment: &str) -> Result<(&str, Format), String> {
    match segment.rsplit_once('.') {
        None => Ok((segment, Format::Xml)),
        Some((stem, ext)) => match ext.to_ascii_lowercase().as_str() {
            "xml" => Ok((stem, Format::Xml)),
            "json" => Ok((stem, Format::Json)),
            other => Err(format!(
                "unknown format '.{other}': use .xml or .json (GeoReport v2)"
            )),
        },
    }
}

/// One value of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Str(String),
    Int(i64),
    Num(f64),
    Bool(bool),
    /// An empty element in XML, `null` in JSON.
    Null,
    Obj(Vec<(&'static str, V)>),
    /// A list: its items are elements named `item` in XML, an array in JSON.
    List {
        item: &'static str,
        items: Vec<V>,
    },
}

impl V {
    pub fn str(s: impl Into<String>) -> V {
        V::Str(s.into())
    }

    pub fn opt(s: Option<impl Into<String>>) -> V {
        s.map_or(V::Null, |s| V::Str(s.into()))
    }
}

/// A whole answer: the root element (XML) around a value.
pub fn render(format: Format, root: &'static str, value: &V, status: StatusCode) -> Response {
    match format {
        Format::Json => {
            let body = to_json(value);
            let mut resp = (status, body).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            resp
        }
        Format::Xml => match to_xml(root, value) {
            Ok(body) => {
                let mut resp = (status, body).into_response();
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/xml; charset=utf-8"),
                );
                resp
            }
            Err(e) => {
                tracing::error!(error = %e, "open311: writing XML failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "").into_response()
            }
        },
    }
}

fn to_json(v: &V) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

/// JSON keeps the fields in the order the spec lists them (a `serde_json::Value` would sort them).
impl serde::Serialize for V {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            V::Str(t) => s.serialize_str(t),
            V::Int(n) => s.serialize_i64(*n),
            V::Num(n) if n.is_finite() => s.serialize_f64(*n),
            V::Num(_) | V::Null => s.serialize_none(),
            V::Bool(b) => s.serialize_bool(*b),
            V::Obj(fields) => {
                let mut m = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            V::List { items, .. } => {
                let mut q = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    q.serialize_element(v)?;
                }
                q.end()
            }
        }
    }
}

/// The XML text of a document whose root element is `root` holding `v`.
pub fn to_xml(root: &str, v: &V) -> std::io::Result<String> {
    let mut w = Writer::new(Vec::new());
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
    element(&mut w, root, v)?;
    String::from_utf8(w.into_inner()).map_err(std::io::Error::other)
}

fn element(w: &mut Writer<Vec<u8>>, name: &str, v: &V) -> std::io::Result<()> {
    let el = w.create_element(name);
    match v {
        V::Null => {
            el.write_empty()?;
        }
        V::Str(s) => {
            el.write_text_content(BytesText::new(s))?;
        }
        V::Int(n) => {
            el.write_text_content(BytesText::new(&n.to_string()))?;
        }
        V::Num(n) => {
            el.write_text_content(BytesText::new(&n.to_string()))?;
        }
        V::Bool(b) => {
            el.write_text_content(BytesText::new(if *b { "true" } else { "false" }))?;
        }
        V::Obj(fields) => {
            el.write_inner_content(|w| {
                for (k, v) in fields {
                    element(w, k, v)?;
                }
                Ok::<(), std::io::Error>(())
            })?;
        }
        V::List { item, items } => {
            el.write_inner_content(|w| {
                for v in items {
                    element(w, item, v)?;
                }
                Ok::<(), std::io::Error>(())
            })?;
        }
    }
    Ok(())
}

/// A GeoReport error: `<errors><error><code/><description/></error></errors>` or
/// `[{"code":…,"description":…}]`, sent with the same HTTP status.
#[derive(Debug, Clone)]
pub struct Open311Error {
    pub status: StatusCode,
    pub description: String,
}

impl Open311Error {
    pub fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Open311Error {
            status,
            description: description.into(),
        }
    }

    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, description)
    }

    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, description)
    }

    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, description)
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        // The cause goes to the log; the client learns only that it was our fault.
        tracing::error!(error = %err, "open311: internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server failed to complete the request; it has been logged",
        )
    }

    pub fn render(&self, format: Format) -> Response {
        let error = V::Obj(vec![
            ("code", V::Int(i64::from(self.status.as_u16()))),
            ("description", V::str(self.description.clone())),
        ]);
        render(
            format,
            "errors",
            &V::List {
                item: "error",
                items: vec![error],
            },
            self.status,
        )
    }
}

impl From<wangge_store::StoreError> for Open311Error {
    fn from(e: wangge_store::StoreError) -> Self {
        Open311Error::internal(e)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(
            split_format("services.json"),
            Ok(("services", Format::Json))
        );
        assert_eq!(split_format("services.XML"), Ok(("services", Format::Xml)));
        assert_eq!(split_format("services"), Ok(("services", Format::Xml)));
        assert!(split_format("services.csv").unwrap_err().contains(".csv"));
    }

    #[test]
    fn xml_and_json_share_names() {
        let v = V::List {
            item: "service",
            items: vec![V::Obj(vec![
                ("service_code", V::str("0101")),
                ("metadata", V::Bool(true)),
                ("group", V::Null),
                ("name", V::str("a<b&c")),
            ])],
        };
        assert_eq!(
            to_xml("services", &v).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><services><service><service_code>0101</service_code>\
             <metadata>true</metadata><group/><name>a&lt;b&amp;c</name></service></services>"
        );
        assert_eq!(
            to_json(&v),
            r#"[{"service_code":"0101","metadata":true,"group":null,"name":"a<b&c"}]"#
        );
    }
}
