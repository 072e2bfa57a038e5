//! Hotline (12345) tickets into the case loop over HTTP, on every backend: push and file import
//! with known answers, repeats, bad rows, the outcome on close (recorded, posted back, exported
//! masked), verification tasks and scope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use wangge_server::Config;
use wangge_store::{Store, UserRow};

async fn body(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A tiny stand-in for the hotline platform: records every callback it is sent.
async fn platform() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/callback"), got)
}

/// `metres` from a point in a direction (a unit vector east, north).
fn towards(p: (f64, f64), dir: (f64, f64), metres: f64) -> (f64, f64) {
    let east = metres * dir.0 / (111_195.0 * p.1.to_radians().cos());
    (p.0 + east, p.1 + metres * dir.1 / 111_195.0)
}

/// A direction from the spot in which points up to 300 m away stay in the district (the demo
/// worker's grid lies at the city centre, where districts meet).
fn inward(s: &common::TestServer, spot: (f64, f64), district: &str) -> (f64, f64) {
    const D: f64 = std::f64::consts::FRAC_1_SQRT_2;
    let atlas = s.state.atlas();
    let inside = |p: (f64, f64)| {
        atlas
            .locate_code(p.0, p.1)
            .is_some_and(|g| g.starts_with(district))
    };
    [
        (0.0, 1.0),
        (0.0, -1.0),
        (1.0, 0.0),
        (-1.0, 0.0),
        (D, D),
        (-D, D),
        (D, -D),
        (-D, -D),
    ]
    .into_iter()
    .find(|d| (0..=30).all(|k| inside(towards(spot, *d, f64::from(k) * 10.0))))
    .expect("a direction that stays in the district")
}

fn ticket(no: &str, channel: &str, at: (f64, f64), category: &str, hours: i64) -> Value {
    json!({
        "ticket_no": no,
        "channel": channel,
        "text": "小区门口有人占道经营，影响通行",
        "lon": at.0,
        "lat": at.1,
        "category": category,
        "received_at": (Utc::now() + Duration::hours(hours)).to_rfc3339(),
        "caller": "张三",
        "phone": "13912345678",
    })
}

struct Desk<'a> {
    s: &'a common::TestServer,
    tokens: std::collections::HashMap<&'static str, String>,
}

impl<'a> Desk<'a> {
    async fn new(s: &'a common::TestServer) -> Desk<'a> {
        let mut tokens = std::collections::HashMap::new();
        for user in [
            "demo-worker",
            "demo-receiver",
            "demo-leader",
            "demo-dispatcher",
            "demo-unit",
            "demo-street",
        ] {
            tokens.insert(user, s.login(user).await);
        }
        Desk { s, tokens }
    }

    async fn post(&self, user: &'static str, path: &str, b: Value) -> (u16, Value) {
        body(self.s.post(&self.tokens[user], path, &b).await).await
    }

    async fn get(&self, user: &'static str, path: &str) -> (u16, Value) {
        body(self.s.get(&self.tokens[user], path).await).await
    }

    async fn act(&self, user: &'static str, case: &Value, mut command: Value) -> Value {
        let id = case["id"].as_str().unwrap();
        command["version"] = case["version"].clone();
        let (status, out) = self
            .post(
                user,
                &format!("/api/v1/cases/{id}/actions"),
                command.clone(),
            )
            .await;
        assert_eq!(status, 200, "{user} {command}: {out}");
        out
    }

    async fn import(&self, user: &'static str, bytes: Vec<u8>, name: &str) -> (u16, Value) {
        body(
            self.s
                .client
                .post(
                    self.s
                        .url(&format!("/api/v1/hotline/import?file_name={name}")),
                )
                .bearer_auth(&self.tokens[user])
                .body(bytes)
                .send()
                .await
                .unwrap(),
        )
        .await
    }
}

fn result_of<'v>(answer: &'v Value, no: &str) -> Vec<&'v Value> {
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ticket_no"] == no)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_join_the_case_loop() {
    let (url, callbacks) = platform().await;
    let config = Config {
        hotline_callback_url: Some(url),
        ..Config::default()
    };
    for s in common::servers(config).await {
        let backend = s.state.store.backend_name();
        let worker = wangge_server::hotline::spawn_worker(&s.state).unwrap();
        let d = Desk::new(&s).await;
        let grid = s.region_of("demo-worker").await;
        let spot = s.point_in(&grid).await;
        let district = s.region_of("demo-receiver").await;
        let dir = inward(&s, spot, &district);
        let north = |p: (f64, f64), m: f64| towards(p, dir, m);

        // A patrol finds a problem first.
        let (st, patrol) = d
            .post(
                "demo-worker",
                "/api/v1/cases",
                json!({"category": "09006", "description": "路口占道经营", "lon": spot.0, "lat": spot.1, "source": "patrol"}),
            )
            .await;
        assert_eq!(st, 201, "{patrol}");
        let patrol_id = patrol["id"].as_str().unwrap().to_owned();
        let cases_before = s.db.store.count_cases().await.unwrap();

        // A: 30 m away two hours later → the patrol's case (未诉先办).
        // B: the same place, another subcategory → a new case.
        // C: 260 m away (outside 200 m) → a new case.
        // D: A's number again in the same batch → A's answer.
        // E: 20 m from C an hour later → C's case, a repeat caller (duplicate).
        let tickets = json!({"tickets": [
            ticket("T-A", "12345", north(spot, 30.0), "09006", 2),
            ticket("T-B", "12345", spot, "09004", 2),
            ticket("T-C", "12345", north(spot, 260.0), "09006", 2),
            ticket("T-A", "12345", north(spot, 30.0), "09006", 2),
            ticket("T-E", "96181", north(spot, 280.0), "09006", 3),
        ]});
        let (st, answer) = d
            .post("demo-receiver", "/api/v1/hotline/tickets", tickets.clone())
            .await;
        assert_eq!(st, 200, "{backend}: {answer}");
        let a = result_of(&answer, "T-A");
        assert_eq!(a.len(), 2);
        assert_eq!(a[0]["how"], "matched", "{answer}");
        assert_eq!(a[0]["case_id"], patrol_id.as_str());
        assert_eq!(a[0]["patrol_first"], true);
        assert!(
            a[0]["reason"].as_str().unwrap().contains("30 m away"),
            "{}",
            a[0]
        );
        assert_eq!(
            (a[0]["repeat"].as_bool(), a[1]["repeat"].as_bool()),
            (Some(false), Some(true))
        );
        assert_eq!(a[1]["case_id"], a[0]["case_id"]);
        let b = result_of(&answer, "T-B")[0];
        assert_eq!(b["how"], "created", "{b}");
        let c = result_of(&answer, "T-C")[0];
        assert_eq!(c["how"], "created", "{c}");
        assert!(c["reason"].as_str().unwrap().contains("1 too far"), "{c}");
        let e = result_of(&answer, "T-E")[0];
        assert_eq!(e["how"], "duplicate", "{e}");
        assert_eq!(e["case_id"], c["case_id"]);
        assert_eq!(
            (
                answer["created"].as_u64(),
                answer["matched"].as_u64(),
                answer["duplicate"].as_u64(),
                answer["repeated"].as_u64()
            ),
            (Some(2), Some(1), Some(1), Some(1))
        );
        assert_eq!(s.db.store.count_cases().await.unwrap(), cases_before + 2);
        // The new case came from the hotline, under the ticket's number.
        let (_, case_b) = d
            .get(
                "demo-receiver",
                &format!("/api/v1/cases/{}", b["case_id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(case_b["source"], "hotline_12345", "{case_b}");
        assert_eq!(case_b["external_id"], "T-B");

        // The same push again: the same answers, nothing new.
        let (st, again) = d
            .post("demo-receiver", "/api/v1/hotline/tickets", tickets)
            .await;
        assert_eq!(st, 200);
        assert_eq!(again["repeated"], 5, "{again}");
        assert_eq!(result_of(&again, "T-C")[0]["case_id"], c["case_id"]);
        assert_eq!(s.db.store.count_cases().await.unwrap(), cases_before + 2);

        // Bad tickets: every one named with its field; nothing stored.
        let (st, err) = d
            .post(
                "demo-receiver",
                "/api/v1/hotline/tickets",
                json!({"tickets": [
                    ticket("T-OK", "12345", spot, "09006", 1),
                    {"ticket_no": "T-BAD", "channel": "110", "text": "x", "lon": spot.0, "lat": spot.1, "category": "09006", "received_at": "yesterday"},
                    ticket("T-FAR", "12345", (spot.0 + 5.0, spot.1), "09006", 1),
                ]}),
            )
            .await;
        assert_eq!(st, 422, "{err}");
        let problems: Vec<(u64, String)> = err["error"]["details"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["row"].as_u64().unwrap(),
                    p["column"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            problems,
            [(1, "channel".to_owned()), (1, "received_at".to_owned())],
            "{err}"
        );
        let (_, listed) = d
            .get("demo-receiver", "/api/v1/hotline/tickets?limit=1000")
            .await;
        assert!(
            !listed
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["ticket_no"] == "T-OK")
        );

        // A file: Chinese headers, one row about the patrol's case, one new; then a workbook.
        let csv = format!(
            "工单编号,渠道,诉求内容,地址,经度,纬度,小类,来电时间,来电人,电话\n\
             F-1,96181,门口有摊贩占道,,{},{},09006,{},李四,13800138000\n\
             F-2,12345,井盖缺失,,{},{},09001,{},王五,\n",
            spot.0,
            spot.1 + 0.0002,
            (Utc::now() + Duration::hours(1)).format("%Y-%m-%d %H:%M"),
            spot.0,
            spot.1,
            (Utc::now() + Duration::hours(8)).format("%Y-%m-%d %H:%M"),
        );
        let (st, file) = d
            .import("demo-receiver", csv.into_bytes(), "tickets.csv")
            .await;
        assert_eq!(st, 200, "{file}");
        assert_eq!(result_of(&file, "F-1")[0]["how"], "matched", "{file}");
        assert_eq!(result_of(&file, "F-1")[0]["case_id"], patrol_id.as_str());
        assert_eq!(result_of(&file, "F-2")[0]["how"], "created");
        let table = format!(
            "ticket_no,channel,text,lon,lat,category,received_at\nX-1,12345,路边乱摆摊,{},{},09006,{}\n",
            spot.0,
            spot.1,
            (Utc::now() + Duration::hours(1)).to_rfc3339(),
        );
        let xlsx = wangge_server::console::report::workbook(
            wangge_server::console::Lang::ZhCn,
            &[("hotline", table.into_bytes())],
        )
        .unwrap();
        let (st, book) = d.import("demo-receiver", xlsx, "tickets.xlsx").await;
        assert_eq!(st, 200, "{book}");
        assert_eq!(result_of(&book, "X-1")[0]["how"], "matched", "{book}");

        // A bad file: every bad row named with its own column; nothing stored.
        let bad = format!(
            "工单编号,渠道,诉求内容,经度,纬度,小类,来电时间\n\
             G-1,12345,内容,{},{},,2026-11-20 10:00\n\
             G-2,12345,内容,东经,{},09006,2026-11-20 10:00\n\
             G-3,12345,内容,{},{},09006,2026-11-20 10:00\n",
            spot.0, spot.1, spot.1, spot.0, spot.1
        );
        let (st, err) = d.import("demo-receiver", bad.into_bytes(), "bad.csv").await;
        assert_eq!(st, 422, "{err}");
        let problems: Vec<(u64, String)> = err["error"]["details"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["row"].as_u64().unwrap(),
                    p["column"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            problems,
            [(2, "小类".to_owned()), (3, "经度".to_owned())],
            "{err}"
        );
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("nothing was stored")
        );
        let (_, listed) = d
            .get("demo-receiver", "/api/v1/hotline/tickets?limit=1000")
            .await;
        assert!(
            !listed
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["ticket_no"] == "G-3")
        );
        // Who may: a handling unit may not push, a grid worker may not import.
        let (st, _) = d
            .post(
                "demo-unit",
                "/api/v1/hotline/tickets",
                json!({"tickets": []}),
            )
            .await;
        assert_eq!(st, 403);

        // The patrol's case runs the loop to its close: the outcome reaches its tickets, the
        // platform and the export.
        let unit = s.unit_of("demo-unit").await;
        let case = d
            .act("demo-receiver", &patrol, json!({"action": "register"}))
            .await;
        let case = d
            .act(
                "demo-dispatcher",
                &case,
                json!({"action": "dispatch", "unit": unit}),
            )
            .await;
        let case = d.act("demo-unit", &case, json!({"action": "accept"})).await;
        let case = d
            .act(
                "demo-unit",
                &case,
                json!({"action": "handle", "note": "摊贩已劝离，路口已清理"}),
            )
            .await;
        let case = d
            .act("demo-worker", &case, json!({"action": "check_pass"}))
            .await;
        let case = d
            .act("demo-leader", &case, json!({"action": "close"}))
            .await;
        assert_eq!(case["state"], "closed");
        let ticket_a = a[0]["ticket_id"].as_str().unwrap().to_owned();
        let mut view = Value::Null;
        for _ in 0..100 {
            view = d
                .get(
                    "demo-receiver",
                    &format!("/api/v1/hotline/tickets/{ticket_a}"),
                )
                .await
                .1;
            if view["callback_status"] == "delivered" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(view["outcome"], "closed", "{view}");
        assert_eq!(view["callback_status"], "delivered", "{view}");
        assert!(
            view["outcome_note"]
                .as_str()
                .unwrap()
                .contains("摊贩已劝离"),
            "{view}"
        );
        assert_eq!(view["caller"], "张*");
        assert_eq!(view["phone"], "139****5678");
        {
            let got = callbacks.lock().unwrap();
            // Both backends post to the same platform: this backend's by its case.
            let sent: Vec<&Value> = got
                .iter()
                .filter(|v| v["ticket_no"] == "T-A" && v["case_id"] == patrol_id.as_str())
                .collect();
            assert!(!sent.is_empty(), "{got:?}");
            assert_eq!(sent[0]["outcome"], "closed");
            assert_eq!(sent[0]["patrol_first"], true);
            // F-1 and X-1 are about the same case: posted too.
            assert!(
                got.iter()
                    .any(|v| v["ticket_no"] == "F-1" && v["case_id"] == patrol_id.as_str())
            );
        }
        let resp = s
            .get(
                &d.tokens["demo-receiver"],
                "/api/v1/hotline/outcomes?format=csv",
            )
            .await;
        assert_eq!(resp.status().as_u16(), 200);
        let bytes = resp.bytes().await.unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(text.contains("T-A") && text.contains("F-1"), "{text}");
        assert!(
            text.contains("139****5678") && !text.contains("13912345678"),
            "{text}"
        );
        assert!(!text.contains("T-B"), "T-B's case has not ended: {text}");
        let resp = s
            .get(
                &d.tokens["demo-receiver"],
                "/api/v1/hotline/outcomes?format=xlsx&from=2020-01-01",
            )
            .await;
        assert_eq!(resp.status().as_u16(), 200);
        assert!(resp.bytes().await.unwrap().starts_with(b"PK"));
        let (st, _) = d
            .get("demo-receiver", "/api/v1/hotline/outcomes?format=pdf")
            .await;
        assert_eq!(st, 422);

        // 回访核查: the shift leader sends the grid's worker a task; the worker records it once.
        let (st, task) = d
            .post(
                "demo-leader",
                &format!("/api/v1/hotline/tickets/{ticket_a}/verification"),
                json!({"due_hours": 24}),
            )
            .await;
        assert_eq!(st, 201, "{task}");
        assert_eq!(task["worker"], "demo-worker");
        let task_id = task["id"].as_str().unwrap();
        let (_, mine) = d
            .get(
                "demo-worker",
                "/api/v1/hotline/verifications?mine=true&open=true",
            )
            .await;
        assert!(
            mine.as_array().unwrap().iter().any(|t| t["id"] == task_id),
            "{mine}"
        );
        let (st, _) = d
            .post(
                "demo-worker",
                &format!("/api/v1/hotline/verifications/{task_id}/result"),
                json!({"result": "maybe"}),
            )
            .await;
        assert_eq!(st, 422);
        let (st, _) = d
            .post(
                "demo-street",
                &format!("/api/v1/hotline/verifications/{task_id}/result"),
                json!({"result": "satisfied"}),
            )
            .await;
        assert_eq!(st, 403);
        let (st, done) = d
            .post(
                "demo-worker",
                &format!("/api/v1/hotline/verifications/{task_id}/result"),
                json!({"result": "satisfied", "notes": "回访市民，表示满意"}),
            )
            .await;
        assert_eq!(st, 200, "{done}");
        assert_eq!(done["result"], "satisfied");
        let (st, _) = d
            .post(
                "demo-worker",
                &format!("/api/v1/hotline/verifications/{task_id}/result"),
                json!({"result": "unsatisfied"}),
            )
            .await;
        assert_eq!(st, 409);
        let (_, open) = d
            .get("demo-worker", "/api/v1/hotline/verifications?open=true")
            .await;
        assert!(!open.as_array().unwrap().iter().any(|t| t["id"] == task_id));
        let (st, _) = d
            .post(
                "demo-worker",
                &format!("/api/v1/hotline/tickets/{ticket_a}/verification"),
                json!({}),
            )
            .await;
        assert_eq!(st, 403, "grid workers do not send tasks");

        // Scope: the demo street sees the ticket; a user of another street does not.
        let (st, _) = d
            .get(
                "demo-street",
                &format!("/api/v1/hotline/tickets/{ticket_a}"),
            )
            .await;
        assert_eq!(st, 200);
        let home_street = s.region_of("demo-street").await;
        let other =
            s.db.store
                .current_regions(Some("street"), None)
                .await
                .unwrap()
                .into_iter()
                .find(|r| r.code != home_street)
                .unwrap();
        let hash = wangge_server::auth::hash_password("demo").unwrap();
        s.db.store
            .insert_users(&[UserRow {
                id: wangge_domain::new_id(),
                username: "other-street".into(),
                display_name: "另一街道".into(),
                role: "street".into(),
                region_code: Some(other.code.clone()),
                unit_id: None,
                password_hash: hash,
                active: true,
                created_at: Utc::now(),
            }])
            .await
            .unwrap();
        let token = s.login("other-street").await;
        let (st, _) = body(
            s.get(&token, &format!("/api/v1/hotline/tickets/{ticket_a}"))
                .await,
        )
        .await;
        assert_eq!(st, 404);
        let (st, list) = body(s.get(&token, "/api/v1/hotline/tickets?limit=1000").await).await;
        assert_eq!(st, 200);
        assert!(
            !list
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["id"] == ticket_a.as_str())
        );
        let (st, _) = body(
            s.post(
                &token,
                "/api/v1/hotline/tickets",
                &json!({"tickets": [ticket("S-1", "12345", spot, "09006", 1)]}),
            )
            .await,
        )
        .await;
        assert_eq!(st, 403, "street users do not take tickets in");

        worker.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_has_hotline_tickets_and_pages() {
    for s in common::servers(Config::default()).await {
        let token = s.login("demo-district").await;
        let (st, list) = body(s.get(&token, "/api/v1/hotline/tickets?limit=1000").await).await;
        assert_eq!(st, 200);
        let list = list.as_array().unwrap();
        assert!(list.len() >= 10, "{}", list.len());
        assert!(list.iter().any(|t| t["how"] == "created"));
        let (_, matched) = body(
            s.get(&token, "/api/v1/hotline/tickets?how=matched&limit=1000")
                .await,
        )
        .await;
        assert!(
            matched
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["how"] == "matched")
        );

        let console = s.session("demo-leader").await;
        let (st, html) = console.page("/console/hotline").await;
        assert_eq!(st, 200, "{html}");
        assert!(html.contains("12345"), "{html}");
        let worker = s.session("demo-worker").await;
        let (st, html) = worker.page("/m/hotline").await;
        assert_eq!(st, 200, "{html}");
    }
}
