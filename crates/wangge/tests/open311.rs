//! Open311 GeoReport v2 conformance, written from the specification
//! (http://wiki.open311.org/GeoReport_v2): discovery, services, service definitions, posting
//! and reading requests in XML and JSON, the spec's errors, tokens; and the API keys an
//! administrator issues. On every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::{Value, json};
use wangge_server::Config;
use wangge_store::Store;

const KEY: &str = "demo-open311-key";

/// An XML element: its name, its text, its children.
#[derive(Debug, Clone, Default)]
struct El {
    name: String,
    text: String,
    children: Vec<El>,
}

impl El {
    fn child(&self, name: &str) -> &El {
        self.children
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("<{}> has no <{name}>: {self:?}", self.name))
    }

    fn all(&self, name: &str) -> Vec<&El> {
        self.children.iter().filter(|c| c.name == name).collect()
    }

    fn text_of(&self, name: &str) -> &str {
        &self.child(name).text
    }
}

/// Parses a whole document with quick-xml; checks the declaration.
fn parse_xml(text: &str) -> El {
    assert!(
        text.starts_with(r#"<?xml version="1.0" encoding="utf-8"?>"#),
        "declaration: {text}"
    );
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<El> = vec![El::default()];
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => stack.push(El {
                name: e.name().0.to_owned(),
                ..El::default()
            }),
            Event::Empty(e) => {
                let el = El {
                    name: e.name().0.to_owned(),
                    ..El::default()
                };
                stack.last_mut().unwrap().children.push(el);
            }
            Event::Text(t) => {
                let s = t.xml10_content();
                stack.last_mut().unwrap().text.push_str(&s);
            }
            Event::GeneralRef(r) => {
                let name = r.xml10_content();
                let s = quick_xml::escape::unescape(&format!("&{name};"))
                    .unwrap()
                    .into_owned();
                stack.last_mut().unwrap().text.push_str(&s);
            }
            Event::End(_) => {
                let el = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(el);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut doc = stack.pop().unwrap();
    assert_eq!(doc.children.len(), 1, "one root element");
    doc.children.pop().unwrap()
}

struct Client<'a> {
    s: &'a common::TestServer,
}

impl Client<'_> {
    async fn get(&self, path: &str) -> (u16, String, String) {
        let resp = self
            .s
            .client
            .get(self.s.url(&format!("/open311/v2/{path}")))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, ct, resp.text().await.unwrap())
    }

    async fn xml(&self, path: &str) -> (u16, El) {
        let (status, ct, body) = self.get(path).await;
        assert!(ct.starts_with("text/xml"), "{path}: {ct}");
        (status, parse_xml(&body))
    }

    async fn json(&self, path: &str) -> (u16, Value) {
        let (status, ct, body) = self.get(path).await;
        assert!(ct.starts_with("application/json"), "{path}: {ct}");
        (status, serde_json::from_str(&body).unwrap())
    }

    /// Posts a form as the spec has it: repeated keys kept, form-encoded.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let body: String = form_body(form);
        let resp = self
            .s
            .client
            .post(self.s.url(&format!("/open311/v2/{path}")))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    async fn post_json(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let (status, body) = self.post("requests.json", form).await;
        (status, serde_json::from_str(&body).unwrap())
    }
}

fn form_body(form: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (k, v) in form {
        if !s.is_empty() {
            s.push('&');
        }
        s.push_str(&encode(k));
        s.push('=');
        s.push_str(&encode(v));
    }
    s
}

fn encode(t: &str) -> String {
    t.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The spec's error in JSON: `[{"code":…,"description":…}]`.
fn json_error(v: &Value) -> (i64, String) {
    let e = &v.as_array().unwrap()[0];
    (
        e["code"].as_i64().unwrap(),
        e["description"].as_str().unwrap().to_owned(),
    )
}

fn xml_error(el: &El) -> (String, String) {
    assert_eq!(el.name, "errors");
    let e = el.child("error");
    (
        e.text_of("code").to_owned(),
        e.text_of("description").to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_services_and_definitions() {
    for s in common::servers(Config::default()).await {
        let c = Client { s: &s };

        let (st, d) = c.xml("discovery.xml").await;
        assert_eq!((st, d.name.as_str()), (200, "discovery"));
        assert!(!d.text_of("changeset").is_empty());
        d.child("contact");
        d.child("key_service");
        let ep = d.child("endpoints").child("endpoint");
        assert_eq!(
            ep.text_of("specification"),
            "http://wiki.open311.org/GeoReport_v2"
        );
        assert_eq!(ep.text_of("url"), format!("{}/open311/v2", s.base));
        assert_eq!(ep.text_of("type"), "production");
        let formats: Vec<&str> = ep
            .child("formats")
            .all("format")
            .iter()
            .map(|f| f.text.as_str())
            .collect();
        assert_eq!(formats, ["text/xml", "application/json"]);
        let (st, d) = c.json("discovery.json").await;
        assert_eq!(st, 200);
        assert_eq!(
            d["endpoints"][0]["formats"],
            json!(["text/xml", "application/json"])
        );
        assert_eq!(d["endpoints"][0]["type"], "production");

        // Services: XML and JSON list the same, with every element of the spec.
        let (st, services) = c.xml("services.xml").await;
        assert_eq!((st, services.name.as_str()), (200, "services"));
        let list = services.all("service");
        assert!(list.len() > 20, "{}", list.len());
        for svc in &list {
            for field in [
                "service_code",
                "service_name",
                "description",
                "metadata",
                "type",
                "keywords",
                "group",
            ] {
                svc.child(field);
            }
            assert_eq!(svc.text_of("type"), "realtime");
            assert_eq!(svc.text_of("metadata"), "true");
        }
        let (_, json_services) = c.json("services.json").await;
        let json_services = json_services.as_array().unwrap();
        assert_eq!(json_services.len(), list.len());
        assert_eq!(
            json_services[0]["service_code"],
            list[0].text_of("service_code")
        );
        assert_eq!(json_services[0]["metadata"], true);
        assert!(json_services.iter().any(|s| s["service_code"] == "09001"));
        // Without an extension the answer is XML, the spec's default format.
        let (_, ct, _) = c.get("services").await;
        assert!(ct.starts_with("text/xml"));

        // A service definition with its attributes.
        let (st, def) = c.xml("services/09001.xml").await;
        assert_eq!((st, def.name.as_str()), (200, "service_definition"));
        assert_eq!(def.text_of("service_code"), "09001");
        let attrs = def.child("attributes").all("attribute");
        let codes: Vec<&str> = attrs.iter().map(|a| a.text_of("code")).collect();
        assert!(
            codes.starts_with(&["urgent", "landmark", "hazards"]),
            "{codes:?}"
        );
        for (i, a) in attrs.iter().enumerate() {
            for field in [
                "variable",
                "code",
                "datatype",
                "required",
                "datatype_description",
                "order",
                "description",
            ] {
                a.child(field);
            }
            assert_eq!(a.text_of("order"), (i + 1).to_string());
        }
        assert_eq!(attrs[0].text_of("datatype"), "singlevaluelist");
        assert_eq!(attrs[0].text_of("required"), "true");
        let keys: Vec<&str> = attrs[0]
            .child("values")
            .all("value")
            .iter()
            .map(|v| v.text_of("key"))
            .collect();
        assert_eq!(keys, ["yes", "no"]);
        assert_eq!(attrs[2].text_of("datatype"), "multivaluelist");
        let (st, def) = c.json("services/09001.json").await;
        assert_eq!(st, 200);
        assert_eq!(def["service_code"], "09001");
        assert_eq!(def["attributes"][0]["values"][1]["key"], "no");
        assert_eq!(def["attributes"][1]["datatype"], "string");

        // Unknown service: 404 in the spec's error shape, in both formats.
        let (st, err) = c.xml("services/99999.xml").await;
        assert_eq!(st, 404);
        assert_eq!(xml_error(&err).0, "404");
        let (st, err) = c.json("services/99999.json").await;
        assert_eq!(st, 404);
        assert_eq!(json_error(&err).0, 404);
        // An unknown format is a 400 naming it.
        let (st, err) = c.xml("services.csv").await;
        assert_eq!(st, 400);
        assert!(xml_error(&err).1.contains(".csv"));
    }
}

async fn body(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_posted_read_and_followed_to_closing() {
    for s in common::servers(Config::default()).await {
        let c = Client { s: &s };
        let (lon, lat) = s.point_in(&s.region_of("demo-worker").await).await;
        let base = |key: &'static str| -> Vec<(&'static str, String)> {
            vec![
                ("api_key", key.to_owned()),
                ("service_code", "09001".to_owned()),
                ("lat", lat.to_string()),
                ("long", lon.to_string()),
                ("description", "路边井盖缺失".to_owned()),
                ("first_name", "张".to_owned()),
                ("last_name", "三".to_owned()),
                ("phone", "13800138000".to_owned()),
                ("email", "zhang@example.cn".to_owned()),
                ("account_id", "acct-7".to_owned()),
                ("media_url", "https://img.example.cn/1.jpg".to_owned()),
                ("attribute[urgent]", "yes".to_owned()),
                ("attribute[landmark]", "公交站旁".to_owned()),
                ("attribute[hazards][]", "traffic".to_owned()),
                ("attribute[hazards][]", "night".to_owned()),
            ]
        };
        let post_form = |form: Vec<(&'static str, String)>| {
            let c = &c;
            async move {
                let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                c.post_json(&refs).await
            }
        };

        // Posting: form-encoded, with attribute[x] and attribute[y][].
        let (st, created) = post_form(base(KEY)).await;
        assert_eq!(st, 200, "{created}");
        let created = &created[0];
        let id = created["service_request_id"].as_str().unwrap().to_owned();
        let token = created["token"].as_str().unwrap().to_owned();
        assert_eq!(created["account_id"], "acct-7");
        assert!(created["service_notice"].as_str().unwrap().contains("核实"));

        // The case is in the desks' list as an Open311 report, urgent, the attributes used.
        let receiver = s.login("demo-receiver").await;
        let (st, page) = body(s.get(&receiver, "/api/v1/cases?source=open311").await).await;
        assert_eq!(st, 200);
        assert!(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == id.as_str()),
            "{page}"
        );
        let (st, case) = body(s.get(&receiver, &format!("/api/v1/cases/{id}")).await).await;
        assert_eq!(st, 200, "{case}");
        assert_eq!(case["source"], "open311");
        assert_eq!(case["external_id"], token.as_str());
        assert_eq!(case["urgent"], true, "{case}");
        let description = case["description"].as_str().unwrap();
        assert!(
            description.starts_with("路边井盖缺失")
                && description.contains("公交站旁")
                && description.contains("影响通行、夜间存在"),
            "{description}"
        );

        // The same posted as XML answers in XML.
        let refs: Vec<(&str, String)> = base(KEY);
        let refs: Vec<(&str, &str)> = refs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (st, xml) = c.post("requests.xml", &refs).await;
        assert_eq!(st, 200, "{xml}");
        let doc = parse_xml(&xml);
        assert_eq!(doc.name, "service_requests");
        let second = doc
            .child("request")
            .text_of("service_request_id")
            .to_owned();
        doc.child("request").child("token");

        // Errors: no key, a bad key (403, both formats); no location, missing required
        // attribute, a bad attribute value (400); not a form (415).
        let mut no_key = base(KEY);
        no_key.retain(|(k, _)| *k != "api_key");
        let (st, err) = post_form(no_key.clone()).await;
        assert_eq!((st, json_error(&err).0), (403, 403), "{err}");
        let refs: Vec<(&str, &str)> = no_key.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (st, xml) = c.post("requests.xml", &refs).await;
        assert_eq!(st, 403);
        assert_eq!(xml_error(&parse_xml(&xml)).0, "403");
        let (st, err) = post_form(base("not-a-key")).await;
        assert_eq!((st, json_error(&err).0), (403, 403));
        let mut nowhere = base(KEY);
        nowhere.retain(|(k, _)| *k != "lat" && *k != "long");
        let (st, err) = post_form(nowhere.clone()).await;
        assert_eq!(st, 400);
        assert!(json_error(&err).1.contains("location"), "{err}");
        nowhere.push(("address_string", "火星大道999号".to_owned()));
        let (st, err) = post_form(nowhere).await;
        assert_eq!(st, 400);
        assert!(json_error(&err).1.contains("could not be located"), "{err}");
        let mut no_urgent = base(KEY);
        no_urgent.retain(|(k, _)| *k != "attribute[urgent]");
        let (st, err) = post_form(no_urgent).await;
        assert_eq!(st, 400);
        assert!(json_error(&err).1.contains("attribute[urgent]"), "{err}");
        let mut bad_hazard = base(KEY);
        bad_hazard.push(("attribute[hazards][]", "aliens".to_owned()));
        let (st, err) = post_form(bad_hazard).await;
        assert_eq!(st, 400);
        assert!(json_error(&err).1.contains("aliens"), "{err}");
        let mut unknown = base(KEY);
        unknown[1].1 = "99999".to_owned();
        let (st, err) = post_form(unknown).await;
        assert_eq!(st, 400);
        assert!(json_error(&err).1.contains("99999"), "{err}");
        let resp = s
            .client
            .post(s.url("/open311/v2/requests.json"))
            .json(&json!({"api_key": KEY}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 415);

        // Reading: one request (a list of one), public fields only.
        let (st, one) = c.json(&format!("requests/{id}.json")).await;
        assert_eq!(st, 200);
        let one = one.as_array().unwrap();
        assert_eq!(one.len(), 1);
        let r = &one[0];
        assert_eq!(r["service_request_id"], id.as_str());
        assert_eq!(r["status"], "open");
        assert_eq!(r["service_code"], "09001");
        assert_eq!(r["media_url"], "https://img.example.cn/1.jpg");
        assert!(r["expected_datetime"].is_string(), "{r}");
        assert!(r["status_notes"].as_str().unwrap().contains("reported"));
        assert!((r["lat"].as_f64().unwrap() - lat).abs() < 1e-9);
        assert!((r["long"].as_f64().unwrap() - lon).abs() < 1e-9);
        let text = r.to_string();
        for private in ["13800138000", "zhang@example.cn", "acct-7", "张"] {
            assert!(!text.contains(private), "{private} in {text}");
        }
        // Cases that did not come through Open311 (a hotline ticket, a patrol) are not public.
        let (others, _) = s
            .state
            .store
            .list_cases(&wangge_store::CaseFilter {
                source: Some("hotline_12345".into()),
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        if let Some(other) = others.first() {
            let (st, _) = c.json(&format!("requests/{}.json", other.id)).await;
            assert_eq!(st, 404, "a hotline case is not readable without a key");
            let (_, listed) = c
                .json(&format!(
                    "requests.json?service_request_id={},{id}",
                    other.id
                ))
                .await;
            assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
        }
        let (st, xml) = c.xml(&format!("requests/{id}.xml")).await;
        assert_eq!((st, xml.name.as_str()), (200, "service_requests"));
        let req = xml.child("request");
        for field in [
            "service_request_id",
            "status",
            "status_notes",
            "service_name",
            "service_code",
            "description",
            "agency_responsible",
            "service_notice",
            "requested_datetime",
            "updated_datetime",
            "expected_datetime",
            "address",
            "address_id",
            "zipcode",
            "lat",
            "long",
            "media_url",
        ] {
            req.child(field);
        }
        let (st, err) = c
            .json("requests/0192f000-0000-7000-8000-000000000000.json")
            .await;
        assert_eq!((st, json_error(&err).0), (404, 404));
        let (st, err) = c.xml("requests/nonsense.xml").await;
        assert_eq!((st, xml_error(&err).0.as_str()), (404, "404"));

        // Tokens.
        let (st, t) = c.json(&format!("tokens/{token}.json")).await;
        assert_eq!(st, 200);
        assert_eq!(t[0]["service_request_id"], id.as_str());
        assert_eq!(t[0]["token"], token.as_str());
        let (st, t) = c.xml(&format!("tokens/{token}.xml")).await;
        assert_eq!(st, 200);
        assert_eq!(t.child("request").text_of("service_request_id"), id);
        let (st, _) = c.json("tokens/440000-nothing.json").await;
        assert_eq!(st, 404);

        // Lists and their filters.
        let ids = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|r| r["service_request_id"].as_str().unwrap().to_owned())
                .collect()
        };
        let (st, all) = c.json("requests.json").await;
        assert_eq!(st, 200);
        let all_ids = ids(&all);
        assert!(all_ids.contains(&id) && all_ids.contains(&second));
        // Only what came through Open311 (ours and the demo's sample Open311 cases).
        for listed in &all_ids {
            let case = s
                .state
                .store
                .case(listed.parse().unwrap())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(case.source, "open311", "{listed}");
        }
        let (_, limited) = c.json("requests.json?limit=1").await;
        assert_eq!(ids(&limited), std::slice::from_ref(&second), "newest first");
        let (_, coded) = c.json("requests.json?service_code=09001").await;
        assert!(
            coded
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["service_code"] == "09001")
        );
        assert!(ids(&coded).contains(&id));
        let (_, other) = c.json("requests.json?service_code=01001,01002").await;
        assert!(!ids(&other).contains(&id));
        let (_, open) = c.json("requests.json?status=open").await;
        assert!(
            open.as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == "open")
        );
        assert!(ids(&open).contains(&id));
        let (_, closed) = c.json("requests.json?status=closed").await;
        assert!(
            closed
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == "closed")
        );
        assert!(!ids(&closed).contains(&id));
        let (_, both) = c.json("requests.json?status=open,closed").await;
        assert_eq!(ids(&both).len(), all_ids.len());
        let now = chrono::Utc::now();
        let q = |t: chrono::DateTime<chrono::Utc>| encode(&t.to_rfc3339());
        let (st, window) = c
            .json(&format!(
                "requests.json?start_date={}&end_date={}",
                q(now - chrono::Duration::minutes(5)),
                q(now + chrono::Duration::minutes(5))
            ))
            .await;
        assert_eq!(st, 200, "{window}");
        let mut got = ids(&window);
        got.sort();
        let mut want = vec![id.clone(), second.clone()];
        want.sort();
        assert!(want.iter().all(|w| got.contains(w)), "{got:?}");
        let (_, past) = c
            .json(&format!(
                "requests.json?end_date={}",
                q(now - chrono::Duration::days(10))
            ))
            .await;
        assert!(!ids(&past).contains(&id));
        let (st, err) = c.json("requests.json?start_date=yesterday").await;
        assert_eq!(st, 400);
        assert!(json_error(&err).1.contains("start_date"));
        let (st, _) = c.json("requests.json?status=pending").await;
        assert_eq!(st, 400);
        let (st, _) = c
            .json("requests.json?start_date=2020-01-01&end_date=2021-01-01")
            .await;
        assert_eq!(st, 400, "more than 90 days");
        // A list of ids overrides the other filters.
        let (_, listed) = c
            .json(&format!(
                "requests.json?service_request_id={id},{second},nonsense&status=closed"
            ))
            .await;
        let mut got = ids(&listed);
        got.sort();
        assert_eq!(got, want);

        // Round the loop to closing: open → closed, no expected time once closed.
        let act = |user: &'static str, command: Value| {
            let s = &s;
            let id = id.clone();
            async move {
                let token = s.login(user).await;
                let (_, case) = body(s.get(&token, &format!("/api/v1/cases/{id}")).await).await;
                let mut command = command;
                command["version"] = case["version"].clone();
                let (st, out) = body(
                    s.post(&token, &format!("/api/v1/cases/{id}/actions"), &command)
                        .await,
                )
                .await;
                assert_eq!(st, 200, "{user} {command}: {out}");
                out
            }
        };
        act(
            "demo-worker",
            json!({"action": "confirm", "note": "现场属实"}),
        )
        .await;
        act("demo-receiver", json!({"action": "register"})).await;
        let (_, r) = c.json(&format!("requests/{id}.json")).await;
        assert!(
            r[0]["status_notes"]
                .as_str()
                .unwrap()
                .contains("registered")
        );
        let unit = s.unit_of("demo-unit").await;
        let case = act(
            "demo-dispatcher",
            json!({"action": "dispatch", "unit": unit}),
        )
        .await;
        let (_, r) = c.json(&format!("requests/{id}.json")).await;
        let unit_name = s.state.reference().unit(&unit).unwrap().name.clone();
        assert_eq!(r[0]["agency_responsible"], unit_name.as_str());
        assert!(r[0]["status_notes"].as_str().unwrap().contains(&unit_name));
        assert_eq!(r[0]["status"], "open");
        assert!(r[0]["expected_datetime"].is_string());
        assert_eq!(case["state"], "dispatched");
        act("demo-unit", json!({"action": "accept"})).await;
        act(
            "demo-unit",
            json!({"action": "handle", "note": "已补装井盖"}),
        )
        .await;
        let case = act("demo-worker", json!({"action": "check_pass"})).await;
        if case["state"] != "closed" {
            act("demo-leader", json!({"action": "close"})).await;
        }
        let (_, r) = c.json(&format!("requests/{id}.json")).await;
        assert_eq!(r[0]["status"], "closed", "{r}");
        assert!(r[0]["expected_datetime"].is_null());
        assert!(r[0]["status_notes"].as_str().unwrap().contains("已结案"));
        let (_, closed) = c.json("requests.json?status=closed").await;
        assert!(ids(&closed).contains(&id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_issued_and_revoked_by_administrators() {
    for s in common::servers(Config::default()).await {
        let c = Client { s: &s };
        let admin = s.login("demo-admin").await;
        let worker_region = s.region_of("demo-worker").await;
        let (lon, lat) = s.point_in(&worker_region).await;

        // Only an administrator issues keys, for a real region.
        let dispatcher = s.login("demo-dispatcher").await;
        let (st, _) = body(
            s.post(
                &dispatcher,
                "/api/v1/api-keys",
                &json!({"name": "x", "region_code": worker_region}),
            )
            .await,
        )
        .await;
        assert_eq!(st, 403);
        let (st, _) = body(s.get(&dispatcher, "/api/v1/api-keys").await).await;
        assert_eq!(st, 403);
        let (st, err) = body(
            s.post(
                &admin,
                "/api/v1/api-keys",
                &json!({"name": "x", "region_code": "999999"}),
            )
            .await,
        )
        .await;
        assert_eq!(st, 422);
        assert_eq!(err["error"]["details"]["field"], "region_code");

        let doc: Value = s
            .client
            .get(s.url("/api/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for path in ["/api/v1/api-keys", "/api/v1/api-keys/{id}"] {
            assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
        }

        // A key for the worker's grid only.
        let (st, issued) = body(
            s.post(
                &admin,
                "/api/v1/api-keys",
                &json!({"name": "市民随手拍", "region_code": worker_region}),
            )
            .await,
        )
        .await;
        assert_eq!(st, 201, "{issued}");
        let key = issued["api_key"].as_str().unwrap().to_owned();
        let key_id = issued["id"].as_str().unwrap().to_owned();
        assert!(key.starts_with(issued["prefix"].as_str().unwrap()));

        // The list shows prefixes, never keys (nor hashes); the demo key is there.
        let (st, list) = body(s.get(&admin, "/api/v1/api-keys").await).await;
        assert_eq!(st, 200);
        let text = list.to_string();
        assert!(!text.contains(&key));
        assert!(!text.contains("hash"));
        assert!(text.contains("演示Open311客户端"));

        let form = |key: &str, lat: f64, lon: f64| -> Vec<(String, String)> {
            vec![
                ("api_key".into(), key.into()),
                ("service_code".into(), "09001".into()),
                ("lat".into(), lat.to_string()),
                ("long".into(), lon.to_string()),
                ("description".into(), "占道经营".into()),
                ("attribute[urgent]".into(), "no".into()),
            ]
        };
        let send = |f: Vec<(String, String)>| {
            let c = &c;
            async move {
                let refs: Vec<(&str, &str)> =
                    f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                c.post_json(&refs).await
            }
        };
        let (st, created) = send(form(&key, lat, lon)).await;
        assert_eq!(st, 200, "{created}");
        let id = created[0]["service_request_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let receiver = s.login("demo-receiver").await;
        let (_, case) = body(s.get(&receiver, &format!("/api/v1/cases/{id}")).await).await;
        assert_eq!(case["timeline"][0]["actor"], "open311:市民随手拍", "{case}");
        assert_eq!(case["urgent"], false);

        // Outside the key's jurisdiction: refused, naming it.
        let other = s
            .state
            .atlas()
            .districts()
            .into_iter()
            .find(|d| !worker_region.starts_with(d))
            .map(str::to_owned);
        if let Some(other) = other {
            let (olon, olat) = s.point_in(&other).await;
            let (st, err) = send(form(&key, olat, olon)).await;
            assert_eq!(st, 400);
            assert!(json_error(&err).1.contains("jurisdiction"), "{err}");
        }

        // The key was used; revoked, it is refused; revoking again is harmless, unknown is 404.
        let (_, list) = body(s.get(&admin, "/api/v1/api-keys").await).await;
        let mine = list
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == key_id.as_str())
            .unwrap()
            .clone();
        assert!(mine["last_used_at"].is_string());
        let resp = s
            .client
            .delete(s.url(&format!("/api/v1/api-keys/{key_id}")))
            .bearer_auth(&dispatcher)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 403);
        let resp = s
            .client
            .delete(s.url(&format!("/api/v1/api-keys/{key_id}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204);
        let (st, err) = send(form(&key, lat, lon)).await;
        assert_eq!(st, 403);
        assert!(json_error(&err).1.contains("revoked"));
        let resp = s
            .client
            .delete(s.url("/api/v1/api-keys/0192f000-0000-7000-8000-000000000000"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404);
        let (_, list) = body(s.get(&admin, "/api/v1/api-keys").await).await;
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .any(|k| k["id"] == key_id.as_str() && k["revoked_at"].is_string())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_issues_shows_once_and_revokes_keys() {
    for s in common::servers(Config::default()).await {
        let region = s.region_of("demo-worker").await;
        let (lon, lat) = s.point_in(&region).await;
        let admin = s.session("demo-admin").await;
        let (st, html) = admin.page("/console/admin/api-keys").await;
        assert_eq!(st, 200);
        assert!(html.contains("演示Open311客户端"), "the demo key is listed");
        assert!(
            html.contains("/console/admin/api-keys\""),
            "in the admin's menu"
        );
        assert!(!html.contains(KEY), "a key is never shown after issuing");
        for raw in [">open311.", "\"open311.", "> open311."] {
            assert!(!html.contains(raw), "a raw catalogue key ({raw})");
        }
        let (_, en) = {
            let resp = s
                .client
                .get(s.url("/console/admin/api-keys"))
                .header("Cookie", format!("{}; wangge_lang=en", admin.cookie))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        };
        assert!(en.contains("Open311 API keys"), "English catalogue");
        let csrf = admin.csrf().await;

        // A bad region shows the form again naming the field; nothing is stored.
        let resp = admin
            .post_form(
                "/console/admin/api-keys",
                &[
                    ("_csrf", &csrf),
                    ("name", "街道随手拍"),
                    ("region_code", "123"),
                ],
            )
            .await;
        assert_eq!(resp.status().as_u16(), 422);
        let html = resp.text().await.unwrap();
        assert!(html.contains("data-field=\"region_code\""), "{html}");

        // Issued: the key is on the answer once.
        let resp = admin
            .post_form(
                "/console/admin/api-keys",
                &[
                    ("_csrf", &csrf),
                    ("name", "街道随手拍"),
                    ("region_code", &region),
                ],
            )
            .await;
        assert_eq!(resp.status().as_u16(), 200);
        let html = resp.text().await.unwrap();
        let marker = "data-testid=\"api-key\">";
        let at = html.find(marker).unwrap() + marker.len();
        let key = html[at..].split('<').next().unwrap().to_owned();
        assert!(key.starts_with("o311_"), "{key}");
        let (_, again) = admin.page("/console/admin/api-keys").await;
        assert!(!again.contains(&key));
        assert!(again.contains("街道随手拍"));

        // The key works on the Open311 endpoint.
        let c = Client { s: &s };
        let form = [
            ("api_key", key.as_str()),
            ("service_code", "09001"),
            ("lat", &lat.to_string()),
            ("long", &lon.to_string()),
            ("attribute[urgent]", "no"),
        ];
        let (st, out) = c.post_json(&form).await;
        assert_eq!(st, 200, "{out}");

        // Revoked from the page: refused from then on.
        let admin_token = s.login("demo-admin").await;
        let (_, list) = body(s.get(&admin_token, "/api/v1/api-keys").await).await;
        let id = list
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == "街道随手拍")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let resp = admin
            .post_form(
                &format!("/console/admin/api-keys/{id}/revoke"),
                &[("_csrf", &csrf)],
            )
            .await;
        assert_eq!(resp.status().as_u16(), 303);
        let (_, html) = admin.page("/console/admin/api-keys?done=revoked").await;
        assert!(html.contains(&format!("data-key=\"{id}\" data-revoked=\"true\"")));
        let (st, _) = c.post_json(&form).await;
        assert_eq!(st, 403);

        // Not for anyone else.
        let dispatcher = s.session("demo-dispatcher").await;
        let (st, _) = dispatcher.page("/console/admin/api-keys").await;
        assert_eq!(st, 403);
    }
}

/// With a data key: a house of the registry locates a request by its code or its address, and
/// the requester's contact details are kept sealed, never in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn houses_locate_requests_and_contacts_are_sealed() {
    let config = Config {
        vault: Some(std::sync::Arc::new(
            wangge_store::vault::Vault::from_key_text(&"3a".repeat(32)).unwrap(),
        )),
        ..Config::default()
    };
    for s in common::servers(config).await {
        let c = Client { s: &s };
        let grid = s.region_of("demo-worker").await;
        let (lon, lat) = s.point_in(&grid).await;
        let district = s.login("demo-district").await;
        let house = json!({"house_code": "H-0001-0501", "road": "和平路", "number": "12",
            "building": "3", "unit": "2", "floor": 5, "room": "501", "use": "住宅",
            "lon": lon, "lat": lat});
        let (st, out) = body(s.post(&district, "/api/v1/houses", &house).await).await;
        assert_eq!(st, 201, "{out}");
        let (_, h) = body(s.get(&district, "/api/v1/houses/H-0001-0501").await).await;
        let address = h["address"]
            .as_str()
            .unwrap_or("和平路12号3栋2单元501")
            .to_owned();

        let (st, out) = c
            .post_json(&[
                ("api_key", KEY),
                ("service_code", "09001"),
                ("address_id", "H-0001-0501"),
                ("phone", "13900139000"),
                ("first_name", "李"),
                ("attribute[urgent]", "no"),
            ])
            .await;
        assert_eq!(st, 200, "{out}");
        let id = out[0]["service_request_id"].as_str().unwrap().to_owned();
        let (_, r) = c.json(&format!("requests/{id}.json")).await;
        assert_eq!(r[0]["address_id"], "H-0001-0501");
        assert!((r[0]["lat"].as_f64().unwrap() - lat).abs() < 1e-9);
        assert!(!r.to_string().contains("13900139000"));
        let extra = {
            use wangge_store::api_keys::ApiKeys;
            s.db.store
                .open311_requests(&[id.parse().unwrap()])
                .await
                .unwrap()
        };
        let sealed = extra[0].requester.clone().expect("kept sealed");
        assert!(
            !sealed.windows(11).any(|w| w == b"13900139000"),
            "never in clear"
        );

        let (st, out) = c
            .post_json(&[
                ("api_key", KEY),
                ("service_code", "09001"),
                ("address_string", &address),
                ("attribute[urgent]", "no"),
            ])
            .await;
        assert_eq!(st, 200, "{address}: {out}");
        let id = out[0]["service_request_id"].as_str().unwrap().to_owned();
        let (_, r) = c.json(&format!("requests/{id}.json")).await;
        assert_eq!(r[0]["address_id"], "H-0001-0501", "{r}");
        assert_eq!(r[0]["address"], address.as_str());

        let (st, out) = c
            .post_json(&[
                ("api_key", KEY),
                ("service_code", "09001"),
                ("address_id", "H-9999-0101"),
                ("attribute[urgent]", "no"),
            ])
            .await;
        assert_eq!(st, 400);
        assert!(json_error(&out).1.contains("address_id"), "{out}");
    }
}
