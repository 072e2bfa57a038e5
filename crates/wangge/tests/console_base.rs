//! The console's base-data pages (`/console/base/…`): every page for the roles that see it,
//! masking in lists, the full read written to the access log before it is shown, a grid
//! worker's registration reviewed in the street's queue, refused fields shown beside their
//! fields, and jurisdiction scoping — on every database under test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{Session, TestServer};
use serde_json::{Value, json};
use wangge_domain::identity::{CreditCode, IdentityNumber};
use wangge_server::Config;
use wangge_store::{Store, UserRow};

fn config() -> Config {
    Config {
        vault: Some(Arc::new(
            wangge_store::vault::Vault::from_key_text(&"3a".repeat(32)).unwrap(),
        )),
        ..Default::default()
    }
}

fn identity(first17: &str) -> String {
    format!("{first17}{}", IdentityNumber::check_char(first17))
}

fn credit(first17: &str) -> String {
    format!("{first17}{}", CreditCode::check_char(first17))
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A value as the templates write it into a page (minijinja escapes `/` too).
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('/', "&#x2f;")
}

/// A page shows no catalogue key in place of its text.
fn assert_translated(what: &str, html: &str) {
    for raw in [">base.", "\"base.", "> base.", ">nav.base"] {
        assert!(
            !html.contains(raw),
            "{what} shows a raw key ({raw}): {html}"
        );
    }
}

async fn api_post(s: &TestServer, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = s.post(token, path, &body).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn api_get(s: &TestServer, token: &str, path: &str) -> (u16, Value) {
    let r = s.get(token, path).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post(session: &Session<'_>, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
    let resp = session.post_form(path, fields).await;
    let status = resp.status().as_u16();
    let to = location(&resp);
    (status, to, resp.text().await.unwrap())
}

/// A community user of another community than the demo's.
async fn add_outsider(s: &TestServer) -> String {
    let mine = s.region_of("demo-community").await;
    let communities =
        s.db.store
            .current_regions(Some("community"), None)
            .await
            .unwrap();
    let other = communities
        .iter()
        .find(|c| c.code != mine)
        .unwrap()
        .code
        .clone();
    let hash = wangge_server::auth::hash_password("demo").unwrap();
    s.db.store
        .insert_users(&[UserRow {
            id: wangge_domain::new_id(),
            username: "other-community".into(),
            display_name: "other-community".into(),
            role: "community".into(),
            region_code: Some(other.clone()),
            unit_id: None,
            password_hash: hash,
            active: true,
            created_at: chrono::Utc::now(),
        }])
        .await
        .unwrap();
    other
}

/// What the district registers through the API for the pages to show.
struct Seeded {
    grid: String,
    zhang: String,
    zhang_id: String,
    org: String,
    component: String,
}

async fn seed(s: &TestServer) -> Seeded {
    let district = s.login("demo-district").await;
    let grid = s.region_of("demo-worker").await;
    let (lon, lat) = s.point_in(&grid).await;
    for (code, room) in [("H-0001-0501", "501"), ("H-0001-0601", "601")] {
        let (st, body) = api_post(
            s,
            &district,
            "/api/v1/houses",
            json!({"house_code": code, "road": "和平路", "number": "12", "building": "3",
                "room": room, "use": "出租屋", "lon": lon, "lat": lat}),
        )
        .await;
        assert_eq!(st, 201, "house {code}: {body}");
    }
    let zhang = identity("11010519491231002");
    let (st, body) = api_post(
        s,
        &district,
        "/api/v1/people",
        json!({"identity_number": zhang, "name": "张三", "phone": "13800138000",
            "tags": ["elderly"], "household": "HH-1", "house_code": "H-0001-0501",
            "moved_in": "2020-01-01", "relation": "户主"}),
    )
    .await;
    assert_eq!(st, 201, "person: {body}");
    let zhang_id = body["key"].as_str().unwrap().to_owned();
    let org = credit("91110108MA01A2B3C");
    let (st, body) = api_post(
        s,
        &district,
        "/api/v1/organisations",
        json!({"credit_code": org, "name": "示范便利店", "org_kind": "个体工商户",
            "house_code": "H-0001-0501", "contact_phone": "13900139000"}),
    )
    .await;
    assert_eq!(st, 201, "organisation: {body}");
    let component = format!("{}01001000001", &grid[..6]);
    let unit = s.unit_of("demo-unit").await;
    let (st, body) = api_post(
        s,
        &district,
        "/api/v1/components",
        json!({"component_code": component, "name": "井盖", "lon": lon, "lat": lat,
            "status": "损坏", "responsible_unit": unit}),
    )
    .await;
    assert_eq!(st, 201, "component: {body}");
    Seeded {
        grid,
        zhang,
        zhang_id,
        org,
        component,
    }
}

const READERS: &[&str] = &[
    "demo-worker",
    "demo-receiver",
    "demo-leader",
    "demo-dispatcher",
    "demo-community",
    "demo-street",
    "demo-district",
    "demo-supervisor",
    "demo-admin",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_opens_for_its_roles_masked_and_scoped() {
    for s in common::servers(config()).await {
        let db = s.db.store.backend_name();
        let d = seed(&s).await;
        let person = format!("/console/base/people/{}", d.zhang_id);
        let org = format!("/console/base/organisations/{}", d.org);
        let component = format!("/console/base/components/{}", d.component);
        let pages = [
            "/console/base/houses".to_owned(),
            "/console/base/houses/H-0001-0501".to_owned(),
            "/console/base/houses/H-0001-0501?as_of=2021-06-01".to_owned(),
            "/console/base/people".to_owned(),
            person.clone(),
            "/console/base/organisations".to_owned(),
            org.clone(),
            "/console/base/components".to_owned(),
            component.clone(),
            "/console/base/changes".to_owned(),
            "/console/base/changes?tab=mine".to_owned(),
        ];
        for user in READERS {
            let session = s.session(user).await;
            for path in &pages {
                let (status, html) = session.page(path).await;
                assert_eq!(status, 200, "{db} {user} {path}: {html}");
                assert_translated(&format!("{db} {user} {path}"), &html);
            }
            let (_, html) = session.page("/console/base/houses").await;
            assert!(
                html.contains(&format!("href=\"{}\"", esc("/console/base"))),
                "{db} {user}: the menu has the base data"
            );
            let submitter = *user != "demo-supervisor";
            for kind in ["house", "person", "organisation", "component"] {
                let path = format!("/console/base/new/{kind}");
                let (status, html) = session.page(&path).await;
                assert_eq!(
                    status,
                    if submitter { 200 } else { 403 },
                    "{db} {user} {path}"
                );
                if submitter {
                    assert_translated(&path, &html);
                    assert!(html.contains("name=\"_csrf\""), "{path} carries the token");
                }
            }
            let log_reader = ["demo-district", "demo-admin"].contains(user);
            let (status, html) = session.page("/console/base/access-log").await;
            assert_eq!(
                status,
                if log_reader { 200 } else { 403 },
                "{db} {user} access log"
            );
            if log_reader {
                assert_translated("access log", &html);
            }
        }

        // The house page: its residents today (masked, linked), on a day before they came, its
        // organisation and its history.
        let community = s.session("demo-community").await;
        let (_, html) = community.page("/console/base/houses/H-0001-0501").await;
        assert!(
            html.contains(&person),
            "{db}: the resident links to their page"
        );
        assert!(
            html.contains("张三") && !html.contains(&d.zhang),
            "{db}: masked"
        );
        assert!(html.contains("示范便利店"), "{db}: the organisation in it");
        assert!(html.contains("id=\"record-map\""), "{db}: the map");
        assert!(html.contains("data-version=\"1\""), "{db}: the history");
        let (_, before) = community
            .page("/console/base/houses/H-0001-0501?as_of=2019-12-31")
            .await;
        assert!(!before.contains(&person), "{db}: nobody lived there yet");
        let (status, _) = community
            .page("/console/base/houses/H-0001-0501?as_of=2999-01-01")
            .await;
        assert_eq!(status, 422, "{db}: a day in the future is refused");

        // A community user's people list shows masked numbers only, and finds by the last four.
        let masked = format!("1101**********{}", &d.zhang[14..]);
        let (_, html) = community.page("/console/base/people").await;
        assert!(html.contains(&masked), "{db}: {html}");
        assert!(html.contains("138****8000"), "{db}");
        assert!(
            !html.contains(&d.zhang) && !html.contains("13800138000"),
            "{db}"
        );
        let (_, html) = community
            .page(&format!(
                "/console/base/people?identity_number={}",
                &d.zhang[14..]
            ))
            .await;
        assert!(html.contains(&person), "{db}: found by the last four");
        let (status, html) = community
            .page("/console/base/people?identity_number=12345")
            .await;
        assert_eq!(status, 422, "{db}: {html}");
        assert!(html.contains("data-testid=\"problem\""), "{db}");
        let (_, html) = community.page(&person).await;
        assert!(html.contains(&masked) && !html.contains(&d.zhang), "{db}");
        assert!(!html.contains("HH-1"), "{db}: the household only in full");
        assert!(html.contains("data-testid=\"full-read\""), "{db}: the form");

        // The export the list links to is the API's, authenticated by the console session.
        let (_, html) = community.page("/console/base/people?tag=elderly").await;
        assert!(
            html.contains(&esc("/api/v1/people?format=xlsx&tag=elderly")),
            "{db}: the export keeps the filter"
        );
        let resp = community
            .get("/api/v1/people?format=xlsx&tag=elderly")
            .await;
        assert_eq!(resp.status().as_u16(), 200, "{db}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .contains("spreadsheetml"),
            "{db}"
        );

        // The full read: a purpose is required; the read is logged once and shows the number.
        let csrf = community.csrf().await;
        let full = format!("{person}/full");
        let (status, _, html) = post(&community, &full, &[("_csrf", &csrf), ("purpose", "")]).await;
        assert_eq!(status, 422, "{db}: {html}");
        assert!(
            html.contains("data-field-error=\"purpose\""),
            "{db}: {html}"
        );
        assert!(!html.contains(&d.zhang), "{db}");
        let (status, _, html) = post(
            &community,
            &full,
            &[("_csrf", &csrf), ("purpose", "入户走访核实")],
        )
        .await;
        assert_eq!(status, 200, "{db}: {html}");
        assert!(html.contains(&d.zhang), "{db}: the full number");
        assert!(
            html.contains("HH-1") && html.contains("13800138000"),
            "{db}"
        );
        assert!(html.contains("data-full=\"true\""), "{db}");
        let district = s.login("demo-district").await;
        let (_, log) = api_get(&s, &district, "/api/v1/access-log?action=read_full").await;
        let entries = log["items"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{db}: one read, one line: {log}");
        assert_eq!(entries[0]["username"], "demo-community", "{db}");
        assert_eq!(entries[0]["purpose"], "入户走访核实", "{db}");
        assert_eq!(entries[0]["record_key"], d.zhang_id.as_str(), "{db}");
        let district_session = s.session("demo-district").await;
        let (_, html) = district_session
            .page("/console/base/access-log?action=read_full&username=demo-community")
            .await;
        assert!(
            html.contains("入户走访核实") && html.contains(&esc(&person)),
            "{db}: the log page shows the read: {html}"
        );
        let (status, _) = district_session
            .page("/console/base/access-log?from=yesterday")
            .await;
        assert_eq!(status, 422, "{db}: a bad day is named");

        // A grid worker reads masked: no form, and a post is refused and not logged.
        let worker = s.session("demo-worker").await;
        let (_, html) = worker.page(&person).await;
        assert!(!html.contains("data-testid=\"full-read\""), "{db}");
        let csrf = worker.csrf().await;
        let (status, _, _) = post(&worker, &full, &[("_csrf", &csrf), ("purpose", "看看")]).await;
        assert_eq!(status, 403, "{db}");
        let (_, log) = api_get(&s, &district, "/api/v1/access-log?action=read_full").await;
        assert_eq!(log["items"].as_array().unwrap().len(), 1, "{db}");
        // And a post without the session's token is refused.
        let (status, _, _) = post(&community, &full, &[("_csrf", "x"), ("purpose", "看看")]).await;
        assert_eq!(status, 403, "{db}");

        // The organisation's contact phone: masked, in full for a purpose.
        let (_, html) = community.page(&org).await;
        assert!(
            html.contains("139****9000") && !html.contains("13900139000"),
            "{db}"
        );
        let csrf = community.csrf().await;
        let (status, _, html) = post(
            &community,
            &format!("{org}/full"),
            &[("_csrf", &csrf), ("purpose", "联系负责人")],
        )
        .await;
        assert_eq!(status, 200, "{db}: {html}");
        assert!(html.contains("13900139000"), "{db}");

        // Components: listed with their map, and the component's own page.
        let (_, html) = community.page("/console/base/components").await;
        assert!(
            html.contains(&component) && html.contains("id=\"components-map\""),
            "{db}"
        );
        assert!(
            html.contains("\"status\":\"damaged\""),
            "{db}: the map's markers"
        );

        // A handling unit sees only the components it answers for.
        let unit = s.session("demo-unit").await;
        for path in [
            "/console/base/houses".to_owned(),
            "/console/base/houses/H-0001-0501".to_owned(),
            "/console/base/people".to_owned(),
            person.clone(),
            "/console/base/organisations".to_owned(),
            "/console/base/changes".to_owned(),
            "/console/base/new/component".to_owned(),
            "/console/base/access-log".to_owned(),
        ] {
            let (status, _) = unit.page(&path).await;
            assert_eq!(status, 403, "{db} demo-unit {path}");
        }
        let (status, html) = unit.page("/console/base/components").await;
        assert_eq!(status, 200, "{db}");
        assert!(html.contains(&component), "{db}: its component");
        assert!(
            html.contains(&format!("href=\"{}\"", esc("/console/base/components"))),
            "{db}: in its menu"
        );
        let (status, _) = unit.page(&component).await;
        assert_eq!(status, 200, "{db}");

        // Outside the jurisdiction nothing is found.
        add_outsider(&s).await;
        let other = s.session("other-community").await;
        for path in [
            "/console/base/houses",
            "/console/base/people",
            "/console/base/organisations",
            "/console/base/components",
        ] {
            let (status, html) = other.page(path).await;
            assert_eq!(status, 200, "{db} {path}");
            for secret in ["H-0001-0501", "张三", d.org.as_str(), d.component.as_str()] {
                assert!(!html.contains(secret), "{db} {path} shows {secret}");
            }
        }
        let (_, html) = other
            .page(&format!("/console/base/people?identity_number={}", d.zhang))
            .await;
        assert!(!html.contains("张三"), "{db}");
        let (_, html) = other
            .page(&format!("/console/base/houses?region={}", d.grid))
            .await;
        assert!(
            !html.contains("H-0001-0501"),
            "{db}: another region asked for"
        );
        for path in [
            "/console/base/houses/H-0001-0501".to_owned(),
            person.clone(),
            org.clone(),
            component.clone(),
        ] {
            let (status, html) = other.page(&path).await;
            assert_eq!(status, 404, "{db} {path}: {html}");
        }
        let csrf = other.csrf().await;
        let (status, _, _) = post(&other, &full, &[("_csrf", &csrf), ("purpose", "看看")]).await;
        assert_eq!(status, 404, "{db}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_workers_registration_is_reviewed_in_the_console() {
    for s in common::servers(config()).await {
        let db = s.db.store.backend_name();
        let d = seed(&s).await;
        let worker = s.session("demo-worker").await;
        let csrf = worker.csrf().await;
        let li = identity("42010219900101123");
        let mut bad = li.clone();
        bad.replace_range(17.., if bad.ends_with('1') { "2" } else { "1" });

        // A bad identity number: the form again, the message beside the field, what was typed kept.
        let form = |id: &str| -> Vec<(&str, String)> {
            vec![
                ("_csrf", csrf.clone()),
                ("identity_number", id.to_owned()),
                ("name", "李四".to_owned()),
                ("tags", "elderly".to_owned()),
                ("tags", "disabled".to_owned()),
                ("house_code", "H-0001-0601".to_owned()),
                ("moved_in", "2024-05-01".to_owned()),
                ("residence_kind", "actual".to_owned()),
            ]
        };
        let pairs = form(&bad);
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, html) = post(&worker, "/console/base/new/person", &refs).await;
        assert_eq!(status, 422, "{db}: {html}");
        assert!(
            html.contains("data-field-error=\"identity_number\""),
            "{db}: {html}"
        );
        assert!(html.contains("check character"), "{db}: the reason");
        assert!(html.contains("value=\"李四\""), "{db}: the typed name kept");
        assert!(
            html.contains("value=\"disabled\" checked"),
            "{db}: the ticked tags kept"
        );
        let (_, people) = api_get(
            &s,
            &s.login("demo-district").await,
            "/api/v1/people?name=李",
        )
        .await;
        assert_eq!(
            people["items"].as_array().unwrap().len(),
            0,
            "{db}: nothing stored"
        );

        // A good one is a proposal: "submitted for review", listed among the worker's own.
        let pairs = form(&li);
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, to, _) = post(&worker, "/console/base/new/person", &refs).await;
        assert_eq!(status, 303, "{db}");
        assert_eq!(to, "/console/base/changes?tab=mine&done=proposed", "{db}");
        let (_, html) = worker.page(&to).await;
        assert!(html.contains("已提交审核"), "{db}: {html}");
        assert!(html.contains("data-state=\"pending\""), "{db}");
        let at = html.find("data-change=\"").unwrap() + 13;
        let change = html[at..at + 36].to_owned();
        assert!(
            !html.contains("data-testid=\"accept\""),
            "{db}: not their own to review"
        );

        // The street's queue has it, masked, with accept and reject.
        let street = s.session("demo-street").await;
        let (_, html) = street.page("/console/base/changes").await;
        assert!(
            html.contains(&format!("data-change=\"{change}\"")),
            "{db}: {html}"
        );
        assert!(
            !html.contains(&li) && html.contains("4201**********"),
            "{db}: masked"
        );
        assert!(html.contains("data-testid=\"accept\""), "{db}");
        let review = format!("/console/base/changes/{change}/review");
        let (status, _, _) = post(
            &worker,
            &review,
            &[("_csrf", &csrf), ("decision", "accept")],
        )
        .await;
        assert_eq!(status, 403, "{db}: a grid worker does not review");
        let street_csrf = street.csrf().await;
        let (status, _, html) = post(
            &street,
            &review,
            &[
                ("_csrf", &street_csrf),
                ("decision", "reject"),
                ("reason", " "),
            ],
        )
        .await;
        assert_eq!(status, 422, "{db}: a rejection says why");
        assert!(html.contains("data-field-error=\"reason\""), "{db}: {html}");
        let (status, to, _) = post(
            &street,
            &review,
            &[("_csrf", &street_csrf), ("decision", "accept")],
        )
        .await;
        assert_eq!(
            (status, to.as_str()),
            (303, "/console/base/changes?done=accepted"),
            "{db}"
        );
        let (_, html) = street.page(&to).await;
        assert!(
            !html.contains(&format!("data-change=\"{change}\"")),
            "{db}: left the queue"
        );
        let (status, _, _) = post(
            &street,
            &review,
            &[("_csrf", &street_csrf), ("decision", "accept")],
        )
        .await;
        assert_eq!(status, 422, "{db}: reviewed once");

        // Applied: the new resident lives in the house.
        let (_, html) = worker.page("/console/base/houses/H-0001-0601").await;
        assert!(html.contains("李四"), "{db}: {html}");
        let (_, html) = worker
            .page("/console/base/changes?tab=mine&state=accepted")
            .await;
        assert!(html.contains(&format!("data-change=\"{change}\"")), "{db}");

        // Moving out: a community's is a proposal, the district's is applied at once.
        let person = format!("/console/base/people/{}", d.zhang_id);
        let community = s.session("demo-community").await;
        let c_csrf = community.csrf().await;
        let (status, to, _) = post(
            &community,
            &format!("{person}/move-out"),
            &[("_csrf", &c_csrf), ("moved_out", "2025-01-01")],
        )
        .await;
        assert_eq!(
            (status, to.clone()),
            (303, format!("{person}?done=proposed")),
            "{db}"
        );
        let (_, html) = community.page(&to).await;
        assert!(html.contains("已提交审核"), "{db}");
        let district = s.session("demo-district").await;
        let d_csrf = district.csrf().await;
        let (status, _, html) = post(
            &district,
            &format!("{person}/move-out"),
            &[("_csrf", &d_csrf), ("moved_out", "2019-01-01")],
        )
        .await;
        assert_eq!(status, 422, "{db}: before the move in");
        assert!(
            html.contains("data-field-error=\"moved_out\""),
            "{db}: {html}"
        );
        let (status, to, _) = post(
            &district,
            &format!("{person}/move-out"),
            &[("_csrf", &d_csrf), ("moved_out", "2025-01-01")],
        )
        .await;
        assert_eq!(
            (status, to.clone()),
            (303, format!("{person}?done=moved_out")),
            "{db}"
        );
        let (_, html) = district.page(&to).await;
        assert!(html.contains("已迁出"), "{db}: {html}");
        let (_, html) = district
            .page("/console/base/houses/H-0001-0501?as_of=2024-12-31")
            .await;
        assert!(html.contains("张三"), "{db}: lived there on that day");
        let (_, html) = district.page("/console/base/houses/H-0001-0501").await;
        assert!(!html.contains(&person), "{db}: not today");

        // Moving in needs a house; an edit keeps what is left blank.
        let (status, _, html) = post(
            &district,
            &format!("{person}/move-in"),
            &[("_csrf", &d_csrf), ("moved_in", "2025-02-01")],
        )
        .await;
        assert_eq!(status, 422, "{db}");
        assert!(html.contains("data-field-error=\"house_code\""), "{db}");
        let (status, _, _) = post(
            &district,
            &format!("{person}/move-in"),
            &[
                ("_csrf", &d_csrf),
                ("house_code", "H-0001-0601"),
                ("moved_in", "2025-02-01"),
                ("relation", "租户"),
            ],
        )
        .await;
        assert_eq!(status, 303, "{db}");
        let (status, _, _) = post(
            &district,
            &format!("{person}/edit"),
            &[("_csrf", &d_csrf), ("name", "张三丰"), ("tags", "veteran")],
        )
        .await;
        assert_eq!(status, 303, "{db}");
        let token = s.login("demo-district").await;
        let (_, p) = api_get(
            &s,
            &token,
            &format!("/api/v1/people/{}?full=true&purpose=核对修改", d.zhang_id),
        )
        .await;
        assert_eq!(p["name"], "张三丰", "{db}: {p}");
        assert_eq!(p["phone"], "13800138000", "{db}: the phone kept");
        assert_eq!(p["tags"], json!(["veteran"]), "{db}");
        assert_eq!(p["house_code"], "H-0001-0601", "{db}");

        // Registering a house directly as the district goes to the house's page.
        let (status, to, _) = post(
            &district,
            "/console/base/new/house",
            &[
                ("_csrf", &d_csrf),
                ("house_code", "h-0001-0701"),
                ("grid_code", &d.grid),
                ("road", "和平路"),
                ("number", "12"),
                ("building", "3"),
                ("room", "701"),
                ("use", "residential"),
            ],
        )
        .await;
        assert_eq!(
            (status, to.as_str()),
            (303, "/console/base/houses/H-0001-0701?done=created"),
            "{db}"
        );
        let (status, html) = district.page("/console/base/houses/H-0001-0701").await;
        assert_eq!(status, 200, "{db}");
        assert!(html.contains("701"), "{db}");
    }
}

/// Starts an import the way the import page's script does: the file as the body of a POST to
/// the API's background import from our own page (session cookie, Sec-Fetch-Site), then polls
/// the job until it ends. Answers the finished job.
async fn import_as_the_page(session: &Session<'_>, kind: &str, query: &str, body: &str) -> Value {
    let s = session.server;
    let resp = s
        .client
        .post(s.url(&format!("/api/v1/import-jobs/{kind}?{query}")))
        .header("Cookie", &session.cookie)
        .header("Sec-Fetch-Site", "same-origin")
        .header("Content-Type", "application/octet-stream")
        .body(body.as_bytes().to_vec())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let job: Value = resp.json().await.unwrap();
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    for _ in 0..600 {
        let resp = session
            .get(&format!("/api/v1/import-jobs/{kind}/{id}"))
            .await;
        assert_eq!(resp.status().as_u16(), 200);
        let job: Value = resp.json().await.unwrap();
        if job["state"] != "running" {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the import {id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_and_retention_pages() {
    for s in common::servers(config()).await {
        let db = s.db.store.backend_name();
        let d = seed(&s).await;
        let district_code = s.region_of("demo-district").await;

        // Who gets the pages, and the tabs that lead to them.
        let district = s.session("demo-district").await;
        let (status, html) = district.page("/console/base/import").await;
        assert_eq!(status, 200, "{db}: {html}");
        assert_translated("import page", &html);
        assert!(html.contains("data-testid=\"import-form\""), "{db}");
        assert!(
            html.contains(&format!("<option value=\"{district_code}\">")),
            "{db}: the district to import into: {html}"
        );
        assert!(
            html.contains("href=\"/console/base/import\"")
                && html.contains("href=\"/console/base/retention\""),
            "{db}: the tabs"
        );
        assert!(html.contains("/static/js/base_import.js"), "{db}");
        let worker = s.session("demo-worker").await;
        for path in [
            "/console/base/import",
            "/console/base/import/template/people",
            "/console/base/retention",
        ] {
            let (status, _) = worker.page(path).await;
            assert_eq!(status, 403, "{db} demo-worker {path}");
        }
        let (_, html) = worker.page("/console/base/houses").await;
        assert!(
            !html.contains("href=\"/console/base/import\""),
            "{db}: no import tab for a grid worker"
        );
        let street = s.session("demo-street").await;
        let (status, _) = street.page("/console/base/import").await;
        assert_eq!(status, 200, "{db}: the street imports");
        let (status, _) = street.page("/console/base/retention").await;
        assert_eq!(status, 403, "{db}: but does not anonymise");

        // The template: UTF-8 with a BOM, the departments' Chinese headers, an example row.
        let resp = district.get("/console/base/import/template/people").await;
        assert_eq!(resp.status().as_u16(), 200, "{db}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv"),
            "{db}"
        );
        let bytes = resp.bytes().await.unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "{db}: a BOM");
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        let mut lines = text.lines();
        let headers = lines.next().unwrap();
        assert!(
            headers.starts_with("身份证号,姓名,") && headers.contains("房屋编码"),
            "{db}: {headers}"
        );
        assert_eq!(lines.count(), 1, "{db}: one example row");
        let (status, _) = district.page("/console/base/import/template/nothing").await;
        assert_eq!(status, 404, "{db}");

        // A file with one bad identity number: the row, its column and field; nothing stored.
        let wang = identity("11010519850101123");
        let zhao = identity("11010519900202124");
        let mut bad = zhao.clone();
        bad.replace_range(17.., if bad.ends_with('1') { "2" } else { "1" });
        let file = |second: &str| {
            format!(
                "身份证号,姓名,手机号,房屋编码,迁入日期,备注\n\
                 {wang},王五,13800000001,H-0001-0501,2024-01-01,\n\
                 {second},赵六,,H-0001-0601,2024-02-01,新住户\n"
            )
        };
        let query = format!("dry_run=false&district={district_code}&file_name=people.csv");
        let job = import_as_the_page(&district, "people", &query, &file(&bad)).await;
        assert_eq!(job["state"], "done", "{db}: {job}");
        let report = &job["report"];
        assert_eq!(report["stored"], false, "{db}: {report}");
        assert_eq!(
            (report["rows"].as_u64(), report["bad_rows"].as_u64()),
            (Some(2), Some(1)),
            "{db}: {report}"
        );
        let error = &report["errors"][0];
        assert_eq!(error["row"], 3, "{db}: the spreadsheet row: {report}");
        assert_eq!(error["column"], "身份证号", "{db}: {report}");
        assert_eq!(error["field"], "identity_number", "{db}: {report}");
        assert_eq!(report["unmapped_headers"], json!(["备注"]), "{db}");
        let (_, html) = district.page("/console/base/people").await;
        assert!(
            !html.contains("王五") && !html.contains("赵六"),
            "{db}: nothing stored"
        );

        // Another user does not see the job; a page of another site may not start one.
        let id = job["id"].as_str().unwrap();
        let admin = s.session("demo-admin").await;
        let resp = admin.get(&format!("/api/v1/import-jobs/people/{id}")).await;
        assert_eq!(resp.status().as_u16(), 404, "{db}: only its owner polls it");
        let resp = s
            .client
            .post(s.url(&format!("/api/v1/import-jobs/people?{query}")))
            .header("Cookie", &district.cookie)
            .header("Sec-Fetch-Site", "cross-site")
            .body(file(&zhao).into_bytes())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 403, "{db}: from another site");

        // The corrected file is stored, and the people are in the list.
        let job = import_as_the_page(&district, "people", &query, &file(&zhao)).await;
        let report = &job["report"];
        assert_eq!(report["stored"], true, "{db}: {job}");
        assert_eq!(
            (report["created"].as_u64(), report["updated"].as_u64()),
            (Some(2), Some(0)),
            "{db}: {report}"
        );
        let (_, html) = district.page("/console/base/people").await;
        assert!(html.contains("王五") && html.contains("赵六"), "{db}");
        assert!(!html.contains(&wang), "{db}: masked in the list");

        // Retention: someone who left long ago is counted by the dry run, then anonymised
        // once confirmed.
        let token = s.login("demo-district").await;
        let (st, body) = api_post(
            &s,
            &token,
            &format!("/api/v1/people/{}/move-out", d.zhang_id),
            json!({"moved_out": "2021-01-01"}),
        )
        .await;
        assert!(st < 300, "{db}: move out {st} {body}");
        let (status, html) = district.page("/console/base/retention").await;
        assert_eq!(status, 200, "{db}: {html}");
        assert_translated("retention page", &html);
        assert!(html.contains("data-days=\"730\""), "{db}: the period");
        assert!(!html.contains("data-testid=\"retention-result\""), "{db}");
        let csrf = district.csrf().await;
        let (status, _, html) = post(
            &district,
            "/console/base/retention",
            &[("_csrf", &csrf), ("mode", "dry_run")],
        )
        .await;
        assert_eq!(status, 200, "{db}: {html}");
        assert!(
            html.contains("data-dry-run=\"true\" data-people=\"1\""),
            "{db}: one to anonymise: {html}"
        );
        assert!(html.contains("data-testid=\"retention-run\""), "{db}");
        let (status, _, html) = post(
            &district,
            "/console/base/retention",
            &[("_csrf", &csrf), ("mode", "run")],
        )
        .await;
        assert_eq!(status, 422, "{db}: not without the confirmation");
        assert!(html.contains("data-field-error=\"confirm\""), "{db}");
        assert!(html.contains("data-people=\"1\""), "{db}: nothing done");
        let (status, _, html) = post(
            &district,
            "/console/base/retention",
            &[("_csrf", &csrf), ("mode", "run"), ("confirm", "yes")],
        )
        .await;
        assert_eq!(status, 200, "{db}: {html}");
        assert!(
            html.contains("data-dry-run=\"false\"") && html.contains("data-anonymised=\"1\""),
            "{db}: {html}"
        );
        let (_, log) = api_get(&s, &token, "/api/v1/access-log?action=anonymise").await;
        assert_eq!(
            log["items"].as_array().unwrap().len(),
            1,
            "{db}: logged: {log}"
        );
        let (_, _, html) = post(
            &district,
            "/console/base/retention",
            &[("_csrf", &csrf), ("mode", "dry_run")],
        )
        .await;
        assert!(html.contains("data-people=\"0\""), "{db}: nobody left");
        assert!(!html.contains("data-testid=\"retention-run\""), "{db}");
        let (status, _, _) = post(
            &street,
            "/console/base/retention",
            &[("_csrf", &street.csrf().await), ("mode", "dry_run")],
        )
        .await;
        assert_eq!(status, 403, "{db}: the street may not");
    }
}
