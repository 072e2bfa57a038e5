//! Address matching and campaigns through `/api/v1` (issue 7): `POST /match` scoped by
//! jurisdiction and limited; a campaign from a table with a duplicate and an unmatched row;
//! tasks per grid for the grid's worker; results; the street queue and matching by hand;
//! progress figures; masked exports and logged full reads — on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use serde_json::{Value, json};
use wangge_domain::identity::IdentityNumber;
use wangge_server::Config;
use wangge_store::Store;

fn config() -> Config {
    Config {
        vault: Some(Arc::new(
            wangge_store::vault::Vault::from_key_text(&"5c".repeat(32)).unwrap(),
        )),
        ..Default::default()
    }
}

fn identity(first17: &str) -> String {
    format!("{first17}{}", IdentityNumber::check_char(first17))
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

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.s.post(&self.token, path, &body).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn upload(&self, query: &[(&str, &str)], body: &str) -> (u16, Value) {
        let r = self
            .s
            .client
            .post(self.s.url("/api/v1/campaigns/import"))
            .bearer_auth(&self.token)
            .query(query)
            .body(body.as_bytes().to_vec())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

async fn as_user<'a>(s: &'a common::TestServer, username: &str) -> Api<'a> {
    Api {
        s,
        token: s.login(username).await,
    }
}

#[tokio::test]
async fn match_and_campaign_from_a_file() {
    for s in common::servers(config()).await {
        let name = s.db.store.backend_name();
        let district = as_user(&s, "demo-district").await;
        let worker = as_user(&s, "demo-worker").await;
        let street = as_user(&s, "demo-street").await;
        let grid_a = s.region_of("demo-worker").await;
        let (lon, lat) = s.point_in(&grid_a).await;
        // A grid of another street, for a house the worker may not see.
        let grids =
            s.db.store
                .current_regions(Some("grid"), None)
                .await
                .unwrap();
        let grid_b = grids
            .iter()
            .find(|g| g.code[..9] != grid_a[..9] && g.code[..6] == grid_a[..6])
            .or_else(|| {
                grids
                    .iter()
                    .find(|g| g.code != grid_a && g.code[..6] == grid_a[..6])
            })
            .unwrap()
            .code
            .clone();
        let (lon_b, lat_b) = s.point_in(&grid_b).await;

        for (code, road, number, building, unit, room, lon, lat) in [
            ("T7-A-0501", "测试甲路", "12", "3", "2", "501", lon, lat),
            ("T7-A-0502", "测试甲路", "12", "3", "2", "502", lon, lat),
            ("T7-B-0101", "测试乙街", "8", "1", "1", "101", lon_b, lat_b),
        ] {
            let (st, body) = district
                .post(
                    "/api/v1/houses",
                    json!({"house_code": code, "road": road, "number": number,
                        "building": building, "unit": unit, "room": room,
                        "lon": lon, "lat": lat}),
                )
                .await;
            assert_eq!(st, 201, "{name}: {body}");
        }

        // Matching: the district sees both houses, the worker only the one in their grid.
        let texts = json!({"addresses": ["测试甲路12号3栋2单元501室", "测试乙街8号1栋1单元101室"]});
        let (st, body) = district.post("/api/v1/match", texts.clone()).await;
        assert_eq!(st, 200, "{name}: {body}");
        assert_eq!(
            body["results"][0]["house_code"], "T7-A-0501",
            "{name}: {body}"
        );
        assert_eq!(body["results"][0]["grid_code"], grid_a.as_str(), "{name}");
        assert_eq!(
            body["results"][1]["house_code"], "T7-B-0101",
            "{name}: {body}"
        );
        assert!(body["results"][0]["confidence"].as_f64().unwrap() > 0.5);
        assert!(body["results"][0]["reason"].as_str().is_some());
        let (st, body) = worker.post("/api/v1/match", texts).await;
        assert_eq!(st, 200, "{name}: {body}");
        assert_eq!(
            body["results"][0]["house_code"], "T7-A-0501",
            "{name}: {body}"
        );
        assert!(
            body["results"][1]["house_code"].is_null(),
            "{name}: the worker saw another street's house: {body}"
        );
        for c in body["results"][1]["candidates"].as_array().unwrap() {
            assert!(
                c["grid_code"].as_str().unwrap().starts_with(&grid_a),
                "{name}: {c}"
            );
        }
        // A new house is matched at once: the base is rebuilt after a change.
        let (st, _) = district
            .post(
                "/api/v1/houses",
                json!({"house_code": "T7-A-0601", "road": "测试甲路", "number": "12",
                    "building": "3", "unit": "2", "room": "601", "lon": lon, "lat": lat}),
            )
            .await;
        assert_eq!(st, 201);
        let (_, body) = district
            .post(
                "/api/v1/match",
                json!({"addresses": ["测试甲路12号3栋2单元601室"]}),
            )
            .await;
        assert_eq!(
            body["results"][0]["house_code"], "T7-A-0601",
            "{name}: {body}"
        );
        // Limits.
        let many: Vec<String> = (0..1001).map(|i| format!("测试甲路{i}号")).collect();
        let (st, body) = district
            .post("/api/v1/match", json!({"addresses": many}))
            .await;
        assert_eq!(st, 413, "{name}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("1000"),
            "{body}"
        );
        let (st, body) = district
            .post("/api/v1/match", json!({"addresses": ["x"], "threshold": 2}))
            .await;
        assert_eq!(
            (st, body["error"]["details"]["field"].as_str()),
            (422, Some("threshold"))
        );
        let unit = as_user(&s, "demo-unit").await;
        assert_eq!(
            unit.post("/api/v1/match", json!({"addresses": ["x"]}))
                .await
                .0,
            403
        );

        // A campaign from a file: a duplicate (same identity number) and an unmatched row.
        let zhang = identity("11010519491231002");
        let li = identity("42010219900101123");
        let wang = identity("44030419850615004");
        let csv = format!(
            "姓名,身份证号,电话,地址,备注\n\
             张三,{zhang},13800138000,测试甲路12号3栋2单元501室,\n\
             李四,{li},,测试甲路12号3栋2单元502室,\n\
             张三,{zhang},,测试甲路12号3栋2单元501,有狗\n\
             王五,{wang},13900139000,幸福大街999号,\n\
             赵六,,,测试乙街8号1栋1单元101室,\n"
        );
        let q = [
            ("name", "测试核查"),
            ("kind", "疫情核查"),
            ("address_column", "地址"),
            ("identity_column", "身份证号"),
            ("name_column", "姓名"),
            ("phone_column", "电话"),
            ("file_name", "list.csv"),
        ];
        // Mistakes are named: the column, then the row.
        let mut wrong = q;
        wrong[2] = ("address_column", "住址");
        let (st, body) = district.upload(&wrong, &csv).await;
        assert_eq!(
            (st, body["error"]["details"]["field"].as_str()),
            (422, Some("address_column")),
            "{name}: {body}"
        );
        let (st, body) = district
            .upload(&q, "姓名,身份证号,电话,地址,备注\n张三,,,,\n")
            .await;
        assert_eq!(st, 422, "{name}: {body}");
        assert_eq!(
            body["error"]["details"]["problems"][0]["row"], 2,
            "{name}: {body}"
        );
        assert_eq!(worker.upload(&q, &csv).await.0, 403, "{name}");

        let (st, body) = district.upload(&q, &csv).await;
        assert_eq!(st, 201, "{name}: {body}");
        assert_eq!(
            (
                &body["records"],
                &body["matched"],
                &body["unmatched"],
                &body["duplicates"],
                &body["tasks"]
            ),
            (&json!(5), &json!(3), &json!(1), &json!(1), &json!(2)),
            "{name}: {body}"
        );
        let id = body["id"].as_str().unwrap().to_owned();

        let (st, records) = district
            .get(&format!("/api/v1/campaigns/{id}/records"))
            .await;
        assert_eq!(st, 200, "{name}: {records}");
        let rec = |seq: usize| records[seq - 1].clone();
        assert_eq!(rec(1)["status"], "matched");
        assert_eq!(rec(1)["house_code"], "T7-A-0501");
        assert_eq!(rec(3)["status"], "duplicate", "{name}: {records}");
        assert_eq!(rec(3)["duplicate_of"], 1);
        assert_eq!(rec(3)["dup_rule"], "identity_number");
        assert_eq!(rec(4)["status"], "unmatched", "{name}: {records}");
        assert!(rec(1)["id_masked"].as_str().unwrap().contains('*'));
        assert!(
            !records.to_string().contains(&zhang),
            "{name}: an identity number in full"
        );
        assert!(
            !records.to_string().contains("13800138000"),
            "{name}: a phone in full"
        );
        let (_, dups) = district
            .get(&format!("/api/v1/campaigns/{id}/records?status=duplicate"))
            .await;
        assert_eq!(dups.as_array().unwrap().len(), 1);
        let (_, detail) = district.get(&format!("/api/v1/campaigns/{id}")).await;
        assert!(
            detail["merge_rule"].as_str().unwrap().contains("earliest"),
            "{detail}"
        );
        assert_eq!(detail["totals"]["to_verify"], 3, "{detail}");

        // A full read states a purpose, shows the merged fields and is logged.
        let (st, full) = district
            .get(&format!(
                "/api/v1/campaigns/{id}/records/1?purpose=核实身份"
            ))
            .await;
        assert_eq!(st, 200, "{name}: {full}");
        assert_eq!(full["fields"]["身份证号"], zhang.as_str());
        assert_eq!(
            full["fields"]["备注"], "有狗",
            "{name}: the duplicate fills the kept record's gaps: {full}"
        );
        assert_eq!(
            worker
                .get(&format!("/api/v1/campaigns/{id}/records/1?purpose=看看"))
                .await
                .0,
            403
        );

        // The worker sees their grid's task only, and records results.
        let (st, tasks) = worker.get("/api/v1/campaign-tasks").await;
        assert_eq!(st, 200, "{name}: {tasks}");
        let tasks = tasks.as_array().unwrap();
        let mine: Vec<&Value> = tasks
            .iter()
            .filter(|t| t["campaign_id"] == id.as_str())
            .collect();
        assert_eq!(mine.len(), 1, "{name}: {tasks:?}");
        assert_eq!(mine[0]["grid_code"], grid_a.as_str());
        assert_eq!(
            (&mine[0]["total"], &mine[0]["done"]),
            (&json!(2), &json!(0))
        );
        assert_eq!(mine[0]["worker"], "demo-worker", "{name}: {mine:?}");
        let (st, task) = worker
            .get(&format!("/api/v1/campaigns/{id}/tasks/{grid_a}"))
            .await;
        assert_eq!(st, 200);
        assert_eq!(task.as_array().unwrap().len(), 2, "{name}: {task}");
        assert_eq!(
            worker
                .get(&format!("/api/v1/campaigns/{id}/records/5"))
                .await
                .0,
            404,
            "{name}: another street's record"
        );

        let result = format!("/api/v1/campaigns/{id}/records/1/result");
        let (st, body) = worker.post(&result, json!({"outcome": "去旅游了"})).await;
        assert_eq!(
            (st, body["error"]["details"]["field"].as_str()),
            (422, Some("outcome")),
            "{body}"
        );
        let (st, body) = worker
            .post(&result, json!({"outcome": "已核实", "notes": "本人在家"}))
            .await;
        assert_eq!(st, 200, "{name}: {body}");
        assert_eq!(body["outcome"], "已核实");
        assert_eq!(body["done_by"], "demo-worker");
        let (st, _) = worker
            .post(&result, json!({"outcome": "不在住", "version": 1}))
            .await;
        assert_eq!(st, 409, "{name}: a stale version");
        assert_eq!(
            district.post(&result, json!({"outcome": "已核实"})).await.0,
            403,
            "{name}"
        );
        // A photo rides along as multipart.
        let png = include_bytes!("../../wangge-server/web/static/img/icon-192.png");
        let form = reqwest::multipart::Form::new()
            .text("outcome", "不在住")
            .part(
                "photo",
                reqwest::multipart::Part::bytes(png.to_vec()).file_name("p.png"),
            );
        let r = s
            .client
            .post(s.url(&format!("/api/v1/campaigns/{id}/records/2/result")))
            .bearer_auth(&worker.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            200,
            "{name}: {}",
            r.text().await.unwrap()
        );
        let r = s
            .get(
                &worker.token,
                &format!("/api/v1/campaigns/{id}/records/2/photo"),
            )
            .await;
        assert_eq!(r.status().as_u16(), 200);

        // The unmatched record waits in a queue; a grid worker has none, the district matches it.
        assert_eq!(worker.get("/api/v1/campaign-queue").await.0, 403);
        assert_eq!(street.get("/api/v1/campaign-queue").await.0, 200);
        let (st, queue) = district
            .get(&format!("/api/v1/campaign-queue?campaign={id}"))
            .await;
        assert_eq!(st, 200, "{name}: {queue}");
        assert_eq!(queue.as_array().unwrap().len(), 1, "{name}: {queue}");
        assert_eq!(queue[0]["seq"], 4);
        let matching = format!("/api/v1/campaigns/{id}/records/4/match");
        let (st, body) = district
            .post(&matching, json!({"house_code": "NO-SUCH-HOUSE"}))
            .await;
        assert_eq!(
            (st, body["error"]["details"]["field"].as_str()),
            (422, Some("house_code"))
        );
        let (st, body) = district
            .post(&matching, json!({"house_code": "t7-a-0601"}))
            .await;
        assert_eq!(st, 200, "{name}: {body}");
        assert_eq!(body["status"], "manual");
        assert_eq!(body["grid_code"], grid_a.as_str());
        assert_eq!(
            district
                .post(&matching, json!({"house_code": "T7-A-0601"}))
                .await
                .0,
            409
        );
        let (_, queue) = district
            .get(&format!("/api/v1/campaign-queue?campaign={id}"))
            .await;
        assert_eq!(queue.as_array().unwrap().len(), 0, "{name}: {queue}");

        // Progress: the manual record joined grid A's task.
        let (st, p) = district
            .get(&format!("/api/v1/campaigns/{id}/progress"))
            .await;
        assert_eq!(st, 200, "{name}: {p}");
        let row_a = p["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["region_code"] == grid_a.as_str())
            .unwrap();
        assert_eq!(
            (&row_a["total"], &row_a["done"]),
            (&json!(3), &json!(2)),
            "{name}: {p}"
        );
        assert_eq!(row_a["by_outcome"]["已核实"], 1);
        assert_eq!(row_a["by_outcome"]["不在住"], 1);
        assert_eq!(p["totals"]["manual"], 1);
        assert_eq!(p["totals"]["unmatched"], 0);
        assert_eq!(p["totals"]["duplicates"], 1);
        let (_, p) = district
            .get(&format!("/api/v1/campaigns/{id}/progress?level=street"))
            .await;
        let streets: Vec<&str> = p["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["region_code"].as_str().unwrap())
            .collect();
        assert!(streets.iter().all(|s| s.len() == 9), "{name}: {p}");
        assert!(streets.contains(&&grid_a[..9]));
        let (st, _) = district
            .get(&format!("/api/v1/campaigns/{id}/progress?level=town"))
            .await;
        assert_eq!(st, 422);
        // The worker's view is their grid.
        let (_, p) = worker
            .get(&format!("/api/v1/campaigns/{id}/progress"))
            .await;
        assert_eq!(p["rows"].as_array().unwrap().len(), 1, "{name}: {p}");

        // Export: masked, and logged.
        let r = s
            .get(
                &district.token,
                &format!("/api/v1/campaigns/{id}/records?format=csv"),
            )
            .await;
        assert_eq!(r.status().as_u16(), 200);
        let text = r.text().await.unwrap();
        assert!(text.contains("测试甲路12号3栋2单元501室"), "{text}");
        assert!(
            !text.contains(&zhang) && !text.contains("13800138000"),
            "{name}: {text}"
        );
        assert!(text.contains(&zhang[..4]), "{text}");
        let r = s
            .get(
                &district.token,
                &format!("/api/v1/campaigns/{id}/records?format=xlsx"),
            )
            .await;
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.bytes().await.unwrap().starts_with(b"PK"));
        let (st, log) = district
            .get("/api/v1/access-log?kind=campaign_record")
            .await;
        assert_eq!(st, 200, "{log}");
        let actions: Vec<&str> = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["action"].as_str().unwrap())
            .collect();
        assert!(
            actions.contains(&"export") && actions.contains(&"read_full"),
            "{name}: {log}"
        );

        // Closing stops results.
        let (st, _) = district
            .post(
                &format!("/api/v1/campaigns/{id}/status"),
                json!({"status": "closed"}),
            )
            .await;
        assert_eq!(st, 200);
        let (st, _) = worker
            .post(
                &format!("/api/v1/campaigns/{id}/records/4/result"),
                json!({"outcome": "已核实"}),
            )
            .await;
        assert_eq!(st, 409, "{name}");
        let (_, tasks) = worker.get("/api/v1/campaign-tasks").await;
        assert!(
            tasks
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["campaign_id"] != id.as_str())
        );
    }
}

#[tokio::test]
async fn campaign_from_a_registry_query() {
    for s in common::servers(config()).await {
        let name = s.db.store.backend_name();
        let district = as_user(&s, "demo-district").await;
        let worker = as_user(&s, "demo-worker").await;
        let grid = s.region_of("demo-worker").await;
        let (lon, lat) = s.point_in(&grid).await;
        for (code, room, use_kind) in [("T7-Q-0101", "101", "出租屋"), ("T7-Q-0102", "102", "住宅")]
        {
            let (st, body) = district
                .post(
                    "/api/v1/houses",
                    json!({"house_code": code, "road": "测试丙路", "number": "3",
                        "room": room, "use": use_kind, "lon": lon, "lat": lat}),
                )
                .await;
            assert_eq!(st, 201, "{name}: {body}");
        }
        let (st, body) = district
            .post(
                "/api/v1/campaigns",
                json!({"name": "出租屋排查", "kind": "安全隐患排查", "source": "houses",
                    "use": "rental", "region": grid, "outcomes": ["无隐患", "有隐患"]}),
            )
            .await;
        assert_eq!(st, 201, "{name}: {body}");
        let id = body["id"].as_str().unwrap().to_owned();
        let (_, records) = district
            .get(&format!("/api/v1/campaigns/{id}/records"))
            .await;
        let codes: Vec<&str> = records
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["house_code"].as_str())
            .collect();
        assert!(
            codes.contains(&"T7-Q-0101") && !codes.contains(&"T7-Q-0102"),
            "{name}: {records}"
        );
        let (_, tasks) = worker
            .get(&format!("/api/v1/campaign-tasks?campaign={id}"))
            .await;
        assert_eq!(tasks.as_array().unwrap().len(), 1, "{name}: {tasks}");
        let seq = records[0]["seq"].as_i64().unwrap();
        let (st, body) = worker
            .post(
                &format!("/api/v1/campaigns/{id}/records/{seq}/result"),
                json!({"outcome": "有隐患"}),
            )
            .await;
        assert_eq!(st, 200, "{name}: {body}");
        // Mistakes are named.
        let (st, body) = district
            .post("/api/v1/campaigns", json!({"name": "x", "source": "cars"}))
            .await;
        assert_eq!(
            (st, body["error"]["details"]["field"].as_str()),
            (422, Some("source")),
            "{body}"
        );
        let (st, body) = district
            .post("/api/v1/campaigns", json!({"name": "", "source": "houses"}))
            .await;
        assert_eq!(
            (st, body["error"]["details"]["field"].as_str()),
            (422, Some("name")),
            "{body}"
        );
        assert_eq!(
            worker
                .post(
                    "/api/v1/campaigns",
                    json!({"name": "x", "source": "houses"})
                )
                .await
                .0,
            403
        );
        // The console pages: the list, the dashboard, the queue, the worker's phone pages.
        let console = s.session("demo-district").await;
        for path in [
            "/console/campaigns".to_owned(),
            format!("/console/campaigns/{id}"),
            format!("/console/campaigns/{id}?level=street"),
        ] {
            let (st, html) = console.page(&path).await;
            assert_eq!(st, 200, "{name}: {path}: {html}");
            assert!(html.contains("出租屋排查"), "{name}: {path}");
        }
        let (st, html) = console.page("/console/campaigns/queue").await;
        assert_eq!(st, 200, "{name}: {html}");
        let phone = s.session("demo-worker").await;
        let (st, html) = phone.page("/m/campaigns").await;
        assert_eq!(st, 200, "{name}: {html}");
        assert!(
            html.contains(&format!("/m/campaigns/{id}/{grid}")),
            "{name}: {html}"
        );
        let (st, html) = phone.page(&format!("/m/campaigns/{id}/{grid}")).await;
        assert_eq!(st, 200, "{name}: {html}");
        assert!(html.contains("有隐患"), "{name}: {html}");
        // Listed for those who see it, with the worker's view narrowed.
        let (_, list) = worker.get("/api/v1/campaigns").await;
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == id.as_str()),
            "{list}"
        );
    }
}
