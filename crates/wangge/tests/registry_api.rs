//! The base data through `/api/v1`: houses, people and their residences, organisations,
//! components, reviewed changes, masking, full reads in the access log, jurisdiction scoping
//! through every endpoint, retention — on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

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

struct Api<'a> {
    s: &'a common::TestServer,
    token: String,
}

impl Api<'_> {
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.s.get(&self.token, path).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn send(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .s
            .client
            .request(method.parse().unwrap(), self.s.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", path, body).await
    }
}

async fn as_user<'a>(s: &'a common::TestServer, username: &str) -> Api<'a> {
    Api {
        s,
        token: s.login(username).await,
    }
}

/// A community user of another community than the demo's, and a grid worker of another grid.
async fn add_outsiders(s: &common::TestServer) -> (String, String) {
    let mine_community = s.region_of("demo-community").await;
    let mine_grid = s.region_of("demo-worker").await;
    let communities =
        s.db.store
            .current_regions(Some("community"), None)
            .await
            .unwrap();
    let other_community = communities
        .iter()
        .find(|c| c.code != mine_community)
        .unwrap()
        .code
        .clone();
    let grids =
        s.db.store
            .current_regions(Some("grid"), None)
            .await
            .unwrap();
    let other_grid = grids
        .iter()
        .find(|g| g.code != mine_grid && g.code.starts_with(&mine_community))
        .or_else(|| grids.iter().find(|g| g.code != mine_grid))
        .unwrap()
        .code
        .clone();
    let hash = wangge_server::auth::hash_password("demo").unwrap();
    let user = |name: &str, role: &str, region: &str| UserRow {
        id: wangge_domain::new_id(),
        username: name.into(),
        display_name: name.into(),
        role: role.into(),
        region_code: Some(region.into()),
        unit_id: None,
        password_hash: hash.clone(),
        active: true,
        created_at: chrono::Utc::now(),
    };
    s.db.store
        .insert_users(&[
            user("other-community", "community", &other_community),
            user("other-worker", "grid_worker", &other_grid),
        ])
        .await
        .unwrap();
    (other_community, other_grid)
}

#[tokio::test]
async fn base_data_is_registered_reviewed_masked_logged_and_scoped() {
    for s in common::servers(config()).await {
        let name = s.db.store.backend_name();
        let district = as_user(&s, "demo-district").await;
        let street = as_user(&s, "demo-street").await;
        let community = as_user(&s, "demo-community").await;
        let worker = as_user(&s, "demo-worker").await;
        let grid = s.region_of("demo-worker").await;
        let (lon, lat) = s.point_in(&grid).await;
        let (_, other_grid) = add_outsiders(&s).await;

        // A house is placed in its grid by its position; a wrong grid code is named.
        let house = json!({"house_code": "H-0001-0501", "road": "和平路", "number": "12",
            "building": "3", "unit": "2", "floor": 5, "room": "501", "use": "出租屋",
            "lon": lon, "lat": lat});
        let (st, body) = district.post("/api/v1/houses", house.clone()).await;
        assert_eq!(st, 201, "{name}: {body}");
        let mut wrong = house.clone();
        wrong["house_code"] = json!("H-0001-0502");
        wrong["grid_code"] = json!(other_grid);
        let (st, body) = district.post("/api/v1/houses", wrong).await;
        assert_eq!(
            (st, body["error"]["details"]["field"].as_str()),
            (422, Some("grid_code")),
            "{name}: {body}"
        );
        let (st, body) = district.post("/api/v1/houses", house.clone()).await;
        assert_eq!(st, 422, "{name}: registered twice {body}");
        let mut second = house.clone();
        second["house_code"] = json!("H-0001-0601");
        second["room"] = json!("601");
        second["floor"] = json!(6);
        assert_eq!(
            district.post("/api/v1/houses", second).await.0,
            201,
            "{name}"
        );

        // A person: the identity number is checked and its error named.
        let zhang = identity("11010519491231002");
        let mut bad = zhang.clone();
        bad.replace_range(17.., if bad.ends_with('1') { "2" } else { "1" });
        let (st, body) = district
            .post(
                "/api/v1/people",
                json!({"identity_number": bad, "name": "张三",
                "house_code": "H-0001-0501", "moved_in": "2020-01-01"}),
            )
            .await;
        assert_eq!(st, 422, "{name}: {body}");
        assert_eq!(
            body["error"]["details"]["field"], "identity_number",
            "{name}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("check character"),
            "{name}: {body}"
        );
        let (st, body) = district
            .post(
                "/api/v1/people",
                json!({"identity_number": zhang, "name": "张三",
                "phone": "13800138000", "tags": ["elderly"], "household": "HH-1",
                "house_code": "H-0001-0501", "moved_in": "2020-01-01", "relation": "户主"}),
            )
            .await;
        assert_eq!(st, 201, "{name}: {body}");
        let zhang_id = body["key"].as_str().unwrap().to_owned();

        // A grid worker's registration is a proposal until the street accepts it.
        let li = identity("42010219900101123");
        let (st, body) = worker
            .post(
                "/api/v1/people",
                json!({"identity_number": li, "name": "李四",
                "house_code": "H-0001-0601", "moved_in": "2024-05-01"}),
            )
            .await;
        assert_eq!(
            (st, body["status"].as_str()),
            (202, Some("proposed")),
            "{name}: {body}"
        );
        let change = body["change"].as_str().unwrap().to_owned();
        let (_, people) = community.get("/api/v1/people?name=李").await;
        assert_eq!(
            people["items"].as_array().unwrap().len(),
            0,
            "{name}: not yet"
        );
        let (_, queue) = street.get("/api/v1/changes?state=pending").await;
        let item = &queue["items"][0];
        assert_eq!(item["id"], change.as_str(), "{name}");
        assert!(
            item["fields"]["identity_number"]
                .as_str()
                .unwrap()
                .contains('*'),
            "{name}: masked in the queue"
        );
        let review = format!("/api/v1/changes/{change}/review");
        assert_eq!(
            worker.post(&review, json!({"accept": true})).await.0,
            403,
            "{name}"
        );
        assert_eq!(
            street.post(&review, json!({"accept": false})).await.0,
            422,
            "{name}: reason"
        );
        let (st, body) = street.post(&review, json!({"accept": true})).await;
        assert_eq!(
            (st, body["state"].as_str()),
            (200, Some("accepted")),
            "{name}: {body}"
        );
        assert_eq!(
            street.post(&review, json!({"accept": true})).await.0,
            409,
            "{name}"
        );
        let (_, people) = community.get("/api/v1/people?name=李").await;
        assert_eq!(people["items"][0]["name"], "李四", "{name}");

        // Lists and search answer masked numbers.
        let (_, people) = community.get("/api/v1/people?tag=elderly").await;
        let p = &people["items"][0];
        assert_eq!(
            p["identity_number"],
            "1101**********002X".replace("002X", &zhang[14..]),
            "{name}"
        );
        assert_eq!(p["phone"], "138****8000", "{name}");
        for q in [
            format!("identity_number={zhang}"),
            format!("identity_number={}", &zhang[14..]),
            "identity_number=110".to_owned(),
            format!("identity_number={}", p["identity_number"].as_str().unwrap()),
            "phone=13800138000".to_owned(),
            "phone=8000".to_owned(),
            "address=501室".to_owned(),
            "name=张".to_owned(),
        ] {
            let (st, found) = community.get(&format!("/api/v1/people?{q}")).await;
            assert_eq!(st, 200, "{name}: {q}: {found}");
            let items = found["items"].as_array().unwrap();
            assert_eq!(items.len(), 1, "{name}: {q}: {found}");
            assert_eq!(items[0]["id"], zhang_id.as_str(), "{name}: {q}");
        }
        let (st, _) = community
            .get("/api/v1/people?identity_number=11010519491231002Y")
            .await;
        assert_eq!(st, 422, "{name}");

        // A full read needs a granted role and a purpose, and is logged.
        let full = format!("/api/v1/people/{zhang_id}?full=true&purpose=入户走访核实");
        let (st, body) = community.get(&full).await;
        assert_eq!(st, 200, "{name}: {body}");
        assert_eq!(body["identity_number"], zhang.as_str(), "{name}");
        assert_eq!(body["household"], "HH-1", "{name}");
        assert_eq!(
            worker.get(&full).await.0,
            403,
            "{name}: a grid worker reads masked"
        );
        let (st, body) = community
            .get(&format!("/api/v1/people/{zhang_id}?full=true"))
            .await;
        assert_eq!(
            (st, body["error"]["details"]["field"].as_str()),
            (422, Some("purpose")),
            "{name}"
        );
        let (st, masked) = community.get(&format!("/api/v1/people/{zhang_id}")).await;
        assert_eq!((st, masked["full"].as_bool()), (200, Some(false)), "{name}");
        let (st, log) = district.get("/api/v1/access-log?action=read_full").await;
        assert_eq!(st, 200, "{name}: {log}");
        let entries = log["items"].as_array().unwrap();
        assert_eq!(
            entries.len(),
            1,
            "{name}: only the granted full read: {log}"
        );
        assert_eq!(entries[0]["username"], "demo-community", "{name}");
        assert_eq!(entries[0]["purpose"], "入户走访核实", "{name}");
        assert_eq!(entries[0]["record_key"], zhang_id.as_str(), "{name}");
        assert_eq!(
            entries[0]["client"], "127.0.0.1",
            "{name}: the reader's address"
        );
        assert_eq!(community.get("/api/v1/access-log").await.0, 403, "{name}");

        // An export is masked and logged.
        let r = s.get(&community.token, "/api/v1/people?format=csv").await;
        assert_eq!(r.status().as_u16(), 200, "{name}");
        let csv = r.text().await.unwrap();
        assert!(
            csv.contains("138****8000") && !csv.contains(&zhang),
            "{name}: {csv}"
        );
        let (_, log) = district.get("/api/v1/access-log?action=export").await;
        assert_eq!(log["items"].as_array().unwrap().len(), 1, "{name}");

        // Moving house: the old home's residents on a past day still include them.
        let (st, body) = district
            .post(
                &format!("/api/v1/people/{zhang_id}/residences"),
                json!({"house_code": "H-0001-0601", "moved_in": "2025-03-01"}),
            )
            .await;
        assert_eq!(st, 200, "{name}: {body}");
        let (_, then) = community
            .get("/api/v1/houses/H-0001-0501?as_of=2024-12-31")
            .await;
        assert_eq!(
            then["residents"].as_array().unwrap().len(),
            1,
            "{name}: {then}"
        );
        let (_, now) = community.get("/api/v1/houses/H-0001-0501").await;
        assert_eq!(now["residents"].as_array().unwrap().len(), 0, "{name}");
        let (_, now) = community.get("/api/v1/houses/H-0001-0601").await;
        assert_eq!(
            now["residents"].as_array().unwrap().len(),
            2,
            "{name}: {now}"
        );
        let (_, stays) = community
            .get(&format!("/api/v1/people/{zhang_id}/residences"))
            .await;
        assert_eq!(stays.as_array().unwrap().len(), 2, "{name}");
        assert_eq!(stays[0]["moved_out"], "2025-03-01", "{name}: {stays}");

        // Every version of a record, who made it and what changed.
        let (st, _) = district
            .send(
                "PATCH",
                "/api/v1/houses/H-0001-0501",
                json!({"use": "vacant"}),
            )
            .await;
        assert_eq!(st, 200, "{name}");
        let (_, versions) = community.get("/api/v1/houses/H-0001-0501/versions").await;
        let versions = versions.as_array().unwrap();
        assert_eq!(versions.len(), 2, "{name}");
        assert_eq!(
            versions[1]["changed"]["use"],
            json!(["rental", "vacant"]),
            "{name}"
        );
        let (_, hist) = community
            .get(&format!("/api/v1/people/{zhang_id}/versions"))
            .await;
        assert_eq!(
            hist["error"]["details"]["field"], "purpose",
            "{name}: a person's history is a full read"
        );

        // Organisations: the credit code is checked; the contact phone masked.
        let code = credit("91110108MA01A2B3C");
        let (st, body) = district
            .post(
                "/api/v1/organisations",
                json!({"credit_code": "91110108MA01A2B3C0",
                "name": "示范便利店", "house_code": "H-0001-0501"}),
            )
            .await;
        assert_eq!(
            (st, body["error"]["details"]["field"].as_str()),
            (422, Some("credit_code")),
            "{name}"
        );
        let (st, body) = district
            .post("/api/v1/organisations", json!({"credit_code": code, "name": "示范便利店",
                "org_kind": "个体工商户", "house_code": "H-0001-0501", "contact_phone": "13900139000"}))
            .await;
        assert_eq!(st, 201, "{name}: {body}");
        let (_, orgs) = community.get("/api/v1/organisations").await;
        assert_eq!(orgs["items"][0]["contact_phone"], "139****9000", "{name}");

        // Components: the code's district and subcategory are checked.
        let district_code = &grid[..6];
        let (st, body) = district
            .post(
                "/api/v1/components",
                json!({"component_code": format!("{district_code}01001000001"),
                "lon": lon, "lat": lat, "status": "损坏"}),
            )
            .await;
        assert_eq!(st, 201, "{name}: {body}");
        let (st, body) = district
            .post(
                "/api/v1/components",
                json!({"component_code": "11010101001000002", "lon": lon, "lat": lat}),
            )
            .await;
        assert_eq!(
            (st, body["error"]["details"]["field"].as_str()),
            (422, Some("component_code")),
            "{name}"
        );

        // Out of scope: every endpoint answers as if the records did not exist.
        let outsiders = [
            as_user(&s, "other-community").await,
            as_user(&s, "other-worker").await,
        ];
        for o in &outsiders {
            for path in [
                "/api/v1/houses".to_owned(),
                "/api/v1/people".to_owned(),
                format!("/api/v1/people?identity_number={zhang}"),
                "/api/v1/people?name=张".to_owned(),
                "/api/v1/organisations".to_owned(),
                "/api/v1/components".to_owned(),
                "/api/v1/changes".to_owned(),
                format!("/api/v1/houses?region={grid}"),
            ] {
                let (st, body) = o.get(&path).await;
                assert_eq!(st, 200, "{name}: {path}");
                assert_eq!(
                    body["items"].as_array().unwrap().len(),
                    0,
                    "{name}: {path}: {body}"
                );
            }
            for path in [
                "/api/v1/houses/H-0001-0501".to_owned(),
                "/api/v1/houses/H-0001-0501/versions".to_owned(),
                format!("/api/v1/people/{zhang_id}"),
                format!("/api/v1/people/{zhang_id}?full=true&purpose=看看"),
                format!("/api/v1/people/{zhang_id}/residences"),
                format!("/api/v1/organisations/{code}"),
                format!("/api/v1/components/{district_code}01001000001"),
                format!("/api/v1/changes/{change}"),
            ] {
                let (st, body) = o.get(&path).await;
                assert!(st == 404 || st == 403, "{name}: {path}: {st} {body}");
            }
            let (st, _) = o
                .send(
                    "PATCH",
                    "/api/v1/houses/H-0001-0501",
                    json!({"use": "shop"}),
                )
                .await;
            assert_eq!(st, 404, "{name}");
            let (st, _) = o
                .post(&format!("/api/v1/people/{zhang_id}/move-out"), json!({}))
                .await;
            assert_eq!(st, 404, "{name}");
            let (st, _) = o.post(&review, json!({"accept": true})).await;
            assert!(st == 404 || st == 403, "{name}");
            let (st, body) = o
                .post(
                    "/api/v1/houses",
                    json!({"house_code": "H-0001-0701", "lon": lon, "lat": lat}),
                )
                .await;
            assert_eq!(st, 422, "{name}: {body}");
            let r = s.get(&o.token, "/api/v1/people?format=csv").await;
            assert!(
                !r.text().await.unwrap().contains("****"),
                "{name}: an outsider's export is empty"
            );
        }
        let unit = as_user(&s, "demo-unit").await;
        assert_eq!(unit.get("/api/v1/people").await.0, 403, "{name}");

        // Retention: who moved out long ago is anonymised on request.
        let wang = identity("42010219800101123");
        let (st, body) = district
            .post(
                "/api/v1/people",
                json!({"identity_number": wang, "name": "王五",
                "house_code": "H-0001-0501", "moved_in": "2010-01-01", "moved_out": "2015-06-30"}),
            )
            .await;
        assert_eq!(st, 201, "{name}: {body}");
        let wang_id = body["key"].as_str().unwrap().to_owned();
        let (_, dry) = district.post("/api/v1/people/anonymise", json!({})).await;
        assert_eq!(
            (dry["people"].as_u64(), dry["anonymised"].as_u64()),
            (Some(1), Some(0)),
            "{name}: {dry}"
        );
        let (_, done) = district
            .post("/api/v1/people/anonymise", json!({"dry_run": false}))
            .await;
        assert_eq!(done["anonymised"], 1, "{name}: {done}");
        let (_, gone) = district
            .get(&format!("/api/v1/people/{wang_id}?full=true&purpose=核查"))
            .await;
        assert_eq!(gone["name"], "已匿名", "{name}: {gone}");
        assert!(
            gone["identity_number"]
                .as_str()
                .unwrap()
                .chars()
                .all(|c| c == '*'),
            "{name}"
        );
        let (_, found) = district
            .get(&format!("/api/v1/people?identity_number={wang}"))
            .await;
        assert_eq!(found["items"].as_array().unwrap().len(), 0, "{name}");
    }
}

#[tokio::test]
async fn without_a_data_key_people_are_refused_not_stored_in_clear() {
    for s in common::servers(Config::default()).await {
        let district = as_user(&s, "demo-district").await;
        let (st, body) = district
            .post(
                "/api/v1/people",
                json!({"identity_number": identity("11010519491231002"),
                "name": "张三", "house_code": "H1", "moved_in": "2020-01-01"}),
            )
            .await;
        assert_eq!(
            (st, body["error"]["code"].as_str()),
            (503, Some("no_data_key")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_case_names_its_component_and_the_component_unit_rule_dispatches_it() {
    for s in common::servers(config()).await {
        let name = s.db.store.backend_name();
        let district = as_user(&s, "demo-district").await;
        let admin = as_user(&s, "demo-admin").await;
        let worker = as_user(&s, "demo-worker").await;
        let grid = s.region_of("demo-worker").await;
        let (lon, lat) = s.point_in(&grid).await;
        let unit = s.unit_of("demo-unit").await;
        let code = format!("{}01001000042", &grid[..6]);
        let (st, body) = district
            .post(
                "/api/v1/components",
                json!({"component_code": code, "name": "供水井盖",
                "lon": lon, "lat": lat, "responsible_unit": unit}),
            )
            .await;
        assert_eq!(st, 201, "{name}: {body}");
        let (st, body) = admin
            .post(
                "/api/v1/dispatch-rules",
                json!({"category": null, "region": null,
                "component_unit": unit, "unit": unit}),
            )
            .await;
        assert_eq!(st, 201, "{name}: {body}");
        let report = |category: &str| {
            json!({"category": category, "description": "井盖破损",
            "lon": lon, "lat": lat, "source": "patrol", "component_code": code})
        };
        let (st, body) = worker.post("/api/v1/cases", report("01001")).await;
        assert_eq!(st, 201, "{name}: {body}");
        assert_eq!(body["component_code"], code.as_str(), "{name}");
        let id = uuid::Uuid::parse_str(body["id"].as_str().unwrap()).unwrap();
        let row = s.db.store.case(id).await.unwrap().unwrap();
        assert_eq!(row.component_unit.as_deref(), Some(unit.as_str()), "{name}");
        match wangge_server::cases::suggestion(&s.state, &row) {
            wangge_domain::dispatch::Suggestion::One { unit: u, .. } => {
                assert_eq!(u, unit, "{name}")
            }
            other => panic!("{name}: {other:?}"),
        }
        // A component's problems are its own subcategory; another category is named as wrong.
        let (st, body) = worker.post("/api/v1/cases", report("01002")).await;
        assert_eq!(
            (st, body["error"]["details"]["field"].as_str()),
            (422, Some("component_code")),
            "{name}: {body}"
        );
        let mut unknown = report("01001");
        unknown["component_code"] = json!(format!("{}01001999999", &grid[..6]));
        let (st, _) = worker.post("/api/v1/cases", unknown).await;
        assert_eq!(st, 422, "{name}");
    }
}
