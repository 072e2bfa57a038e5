//! The closed loop over HTTP, as each demo role does its day's work, on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{Value, json};
use wangge_server::Config;
use wangge_store::Store;

async fn body(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
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
            "demo-community",
            "demo-street",
            "demo-district",
            "demo-supervisor",
            "demo-admin",
        ] {
            tokens.insert(user, s.login(user).await);
        }
        Desk { s, tokens }
    }

    async fn report(&self, user: &'static str, source: &str, category: &str) -> Value {
        let (lon, lat) = self
            .s
            .point_in(&self.s.region_of("demo-worker").await)
            .await;
        let (status, case) = body(
            self.s
                .post(&self.tokens[user], "/api/v1/cases", &json!({
                    "category": category, "description": "井盖缺失，存在安全隐患", "lon": lon, "lat": lat, "source": source
                }))
                .await,
        )
        .await;
        assert_eq!(status, 201, "{case}");
        case
    }

    async fn try_act(&self, user: &'static str, case: &Value, mut command: Value) -> (u16, Value) {
        let id = case["id"].as_str().unwrap();
        command["version"] = case["version"].clone();
        body(
            self.s
                .post(
                    &self.tokens[user],
                    &format!("/api/v1/cases/{id}/actions"),
                    &command,
                )
                .await,
        )
        .await
    }

    async fn act(&self, user: &'static str, case: &Value, command: Value) -> Value {
        let (status, out) = self.try_act(user, case, command.clone()).await;
        assert_eq!(status, 200, "{user} {command}: {out}");
        out
    }

    async fn unit_code(&self) -> String {
        let (_, me) = body(
            self.s
                .get(&self.tokens["demo-unit"], "/api/v1/auth/me")
                .await,
        )
        .await;
        me["unit_code"].as_str().unwrap().to_owned()
    }
}

fn timeline_actions(case: &Value) -> Vec<String> {
    case["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_does_its_part_of_the_loop() {
    for s in common::servers(Config::default()).await {
        let d = Desk::new(&s).await;
        let unit = d.unit_code().await;

        // A hotline report must be confirmed on the spot first.
        let case = d.report("demo-receiver", "hotline_12345", "09001").await;
        assert_eq!(case["clock"]["node"], "confirm");
        let (st, err) = d
            .try_act("demo-receiver", &case, json!({"action": "register"}))
            .await;
        assert_eq!(
            (st, err["error"]["code"].as_str().unwrap()),
            (409, "illegal_transition"),
            "{err}"
        );
        assert!(
            err["error"]["details"]["allowed"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "reject")
        );
        let case = d
            .act(
                "demo-worker",
                &case,
                json!({"action": "confirm", "note": "现场属实"}),
            )
            .await;
        let case = d
            .act("demo-receiver", &case, json!({"action": "register"}))
            .await;
        assert_eq!(case["state"], "registered");
        assert_eq!(case["clock"]["node"], "dispatch");
        assert_eq!(
            case["suggested_unit"].as_str(),
            Some(unit.as_str()),
            "09 goes to 城管 in the demo rules"
        );

        // Wrong role, missing version, stale version, unknown unit.
        let (st, err) = d
            .try_act(
                "demo-worker",
                &case,
                json!({"action": "dispatch", "unit": unit}),
            )
            .await;
        assert_eq!(
            (st, err["error"]["code"].as_str().unwrap()),
            (403, "forbidden_action")
        );
        let id = case["id"].as_str().unwrap();
        let (st, err) = body(
            s.post(
                &d.tokens["demo-dispatcher"],
                &format!("/api/v1/cases/{id}/actions"),
                &json!({"action": "dispatch", "unit": unit}),
            )
            .await,
        )
        .await;
        assert_eq!(
            (st, err["error"]["code"].as_str().unwrap()),
            (428, "version_required")
        );
        let (st, err) = d
            .try_act(
                "demo-dispatcher",
                &case,
                json!({"action": "dispatch", "unit": "no-such-unit"}),
            )
            .await;
        assert_eq!(
            (st, err["error"]["code"].as_str().unwrap()),
            (422, "unknown_unit")
        );

        // Two dispatchers on the same version: exactly one wins.
        let a = d.try_act(
            "demo-dispatcher",
            &case,
            json!({"action": "dispatch", "unit": unit}),
        );
        let b = d.try_act(
            "demo-dispatcher",
            &case,
            json!({"action": "dispatch", "unit": unit}),
        );
        let ((sa, ca), (sb, cb)) = tokio::join!(a, b);
        let mut statuses = [sa, sb];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{ca} {cb}");
        let case = if sa == 200 { ca } else { cb };
        assert_eq!(case["state"], "dispatched");
        let (st, err) = d
            .try_act(
                "demo-unit",
                &case,
                json!({"action": "return", "reason": " "}),
            )
            .await;
        assert_eq!(
            (st, err["error"]["details"]["field"].as_str().unwrap()),
            (422, "reason")
        );

        let case = d.act("demo-unit", &case, json!({"action": "accept"})).await;
        let case = d
            .act(
                "demo-unit",
                &case,
                json!({"action": "request_extension", "amount": 1, "reason": "等材料"}),
            )
            .await;
        let case = d
            .act(
                "demo-dispatcher",
                &case,
                json!({"action": "approve_extension"}),
            )
            .await;
        assert_eq!(case["extension_granted"], 1);
        let case = d
            .act(
                "demo-supervisor",
                &case,
                json!({"action": "urge", "note": "尽快"}),
            )
            .await;
        assert_eq!(
            case["timeline"].as_array().unwrap().last().unwrap()["payload"]["target_unit"],
            unit.as_str()
        );
        let case = d
            .act(
                "demo-unit",
                &case,
                json!({"action": "handle", "note": "已盖好"}),
            )
            .await;
        assert_eq!(case["clock"]["node"], "check");
        let case = d
            .act(
                "demo-worker",
                &case,
                json!({"action": "check_fail", "reason": "井盖未固定"}),
            )
            .await;
        assert_eq!(
            (case["state"].as_str(), case["reworks"].as_u64()),
            (Some("in_progress"), Some(1))
        );
        let case = d.act("demo-unit", &case, json!({"action": "handle"})).await;
        let case = d
            .act("demo-worker", &case, json!({"action": "check_pass"}))
            .await;
        let case = d
            .act("demo-leader", &case, json!({"action": "close"}))
            .await;
        assert_eq!(case["state"], "closed");
        assert!(case["clock"].is_null());
        assert_eq!(case["allowed_actions"], json!(["comment", "attach"]));
        assert_eq!(
            timeline_actions(&case),
            [
                "report",
                "confirm",
                "register",
                "dispatch",
                "accept",
                "request_extension",
                "approve_extension",
                "urge",
                "handle",
                "check_fail",
                "handle",
                "check_pass",
                "close"
            ]
        );

        // The stored timeline is a legal path and the cache agrees with it.
        let row =
            s.db.store
                .case(uuid::Uuid::parse_str(id).unwrap())
                .await
                .unwrap()
                .unwrap();
        wangge_server::cases::verify_timeline(&s.state, &row)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grassroots_escalation_returns_consultation_whistle_and_merge() {
    for s in common::servers(Config::default()).await {
        let d = Desk::new(&s).await;
        let unit = d.unit_code().await;

        // 微循环 / 小循环: escalate from the grid to the community, which solves it.
        let case = d.report("demo-worker", "patrol", "06001").await;
        let case = d
            .act("demo-receiver", &case, json!({"action": "register"}))
            .await;
        // 06 is auto-dispatched to 环卫 in the demo rules.
        assert_eq!(case["state"], "dispatched");
        let case = d.report("demo-worker", "patrol", "09002").await;
        let case = d
            .act("demo-receiver", &case, json!({"action": "register"}))
            .await;
        assert_eq!(case["state"], "registered");
        let case = d
            .act(
                "demo-worker",
                &case,
                json!({"action": "escalate", "reason": "需社区协调"}),
            )
            .await;
        assert_eq!(case["level"], "community");
        let case = d
            .act(
                "demo-community",
                &case,
                json!({"action": "self_handle", "note": "社区已劝离"}),
            )
            .await;
        assert_eq!(
            (case["state"].as_str(), case["solved_level"].as_str()),
            (Some("handled"), Some("community"))
        );

        // Three returns open a consultation that the district centre settles.
        let mut case = d.report("demo-worker", "patrol", "09003").await;
        case = d
            .act("demo-receiver", &case, json!({"action": "register"}))
            .await;
        for _ in 0..3 {
            case = d
                .act(
                    "demo-dispatcher",
                    &case,
                    json!({"action": "dispatch", "unit": unit}),
                )
                .await;
            case = d
                .act(
                    "demo-unit",
                    &case,
                    json!({"action": "return", "reason": "不属于本单位职责"}),
                )
                .await;
        }
        assert_eq!(case["consultation"], "district");
        let (st, _) = d
            .try_act(
                "demo-dispatcher",
                &case,
                json!({"action": "dispatch", "unit": unit}),
            )
            .await;
        assert_eq!(st, 403);
        let case = d
            .act(
                "demo-district",
                &case,
                json!({"action": "dispatch", "unit": unit}),
            )
            .await;
        assert!(case["consultation"].is_null());

        // 吹哨报到: the street whistles two units; check passes only when both parts are done.
        let case = d.act("demo-unit", &case, json!({"action": "accept"})).await;
        let district = s.region_of("demo-district").await;
        let others: Vec<String> =
            vec![format!("{district}-gongan"), format!("{district}-shizheng")];
        let case = d
            .act(
                "demo-street",
                &case,
                json!({"action": "whistle", "units": others, "join_hours": 4}),
            )
            .await;
        assert_eq!(case["parts"].as_array().unwrap().len(), 2);
        for part in case["parts"].as_array().unwrap() {
            assert!(
                part["join_due_at"].is_string() && part["joined_at"].is_null(),
                "{part}"
            );
            assert_eq!(part["late"], false);
        }
        let case = d.act("demo-unit", &case, json!({"action": "handle"})).await;
        let (st, err) = d
            .try_act("demo-worker", &case, json!({"action": "check_pass"}))
            .await;
        assert_eq!(
            (st, err["error"]["code"].as_str().unwrap()),
            (409, "parts_outstanding")
        );

        // Merging a duplicate report keeps both timelines.
        let first = d.report("demo-worker", "patrol", "09004").await;
        let dup = d.report("demo-receiver", "hotline_12345", "09004").await;
        // The receiver is told of the nearby open case of the same subcategory.
        let candidates = dup["duplicate_candidates"].as_array().unwrap();
        assert_eq!(candidates[0]["id"], first["id"], "{dup}");
        assert!(candidates[0]["distance_m"].as_f64().unwrap() <= 50.0);
        let other = d.report("demo-worker", "patrol", "09005").await;
        assert!(
            other["duplicate_candidates"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["id"] != first["id"]),
            "another subcategory is no duplicate"
        );
        // Grid workers find their 核实 tasks by node.
        let (_, tasks) = body(
            s.get(
                &d.tokens["demo-worker"],
                "/api/v1/cases?node=confirm&per_page=500",
            )
            .await,
        )
        .await;
        assert!(
            tasks["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == dup["id"])
        );
        assert!(
            tasks["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["node"] == "confirm")
        );
        let (st, _) = body(
            s.get(&d.tokens["demo-worker"], "/api/v1/cases?node=lunch")
                .await,
        )
        .await;
        assert_eq!(st, 422);
        let merged = d
            .act(
                "demo-receiver",
                &dup,
                json!({"action": "merge", "into": first["id"]}),
            )
            .await;
        assert_eq!(
            (merged["state"].as_str(), merged["merged_into"].as_str()),
            (Some("merged"), first["id"].as_str())
        );
        let (_, survivor) = body(
            s.get(
                &d.tokens["demo-receiver"],
                &format!("/api/v1/cases/{}", first["id"].as_str().unwrap()),
            )
            .await,
        )
        .await;
        assert_eq!(timeline_actions(&survivor), ["report", "absorb"]);
        assert_eq!(
            merged["surviving_state"], survivor["state"],
            "the merged report shows the survivor's outcome"
        );
        assert_eq!(survivor["timeline"][1]["payload"]["case"], merged["id"]);
        let (st, e) = d
            .try_act(
                "demo-receiver",
                &survivor,
                json!({"action": "merge", "into": first["id"]}),
            )
            .await;
        assert_eq!(
            (st, e["error"]["details"]["field"].as_str()),
            (422, Some("into")),
            "not into itself"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_tokens_and_jurisdiction() {
    for s in common::servers(Config::default()).await {
        // Wrong password and unknown user answer alike.
        let mut answers = Vec::new();
        for (u, p) in [("demo-admin", "nope"), ("nobody", "demo")] {
            let (st, e) = body(
                s.client
                    .post(s.url("/api/v1/auth/login"))
                    .json(&json!({"username": u, "password": p}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            answers.push((
                st,
                e["error"]["code"].clone(),
                e["error"]["message"].clone(),
            ));
        }
        assert_eq!(answers[0], answers[1]);
        assert_eq!(answers[0].0, 401);
        // Repeated failures are slowed down.
        for _ in 0..3 {
            let _ = s
                .client
                .post(s.url("/api/v1/auth/login"))
                .json(&json!({"username": "demo-leader", "password": "x"}))
                .send()
                .await
                .unwrap();
        }
        let started = std::time::Instant::now();
        let _ = s
            .client
            .post(s.url("/api/v1/auth/login"))
            .json(&json!({"username": "demo-leader", "password": "x"}))
            .send()
            .await
            .unwrap();
        assert!(started.elapsed() >= std::time::Duration::from_millis(250));

        let (st, e) = body(s.client.get(s.url("/api/v1/cases")).send().await.unwrap()).await;
        assert_eq!(
            (st, e["error"]["code"].as_str().unwrap()),
            (401, "unauthenticated")
        );
        let (st, e) = body(s.get("wg_forged", "/api/v1/cases").await).await;
        assert_eq!(
            (st, e["error"]["code"].as_str().unwrap()),
            (401, "invalid_token")
        );
        // An expired token.
        let user =
            s.db.store
                .user_by_username("demo-admin")
                .await
                .unwrap()
                .unwrap();
        let token = "wg_expired_for_test";
        s.db.store
            .insert_token(&wangge_store::TokenRow {
                token_hash: wangge_server::auth::token_hash(token),
                user_id: user.id,
                label: "test".into(),
                created_at: chrono::Utc::now() - chrono::Duration::hours(20),
                expires_at: chrono::Utc::now() - chrono::Duration::hours(8),
            })
            .await
            .unwrap();
        let (st, e) = body(s.get(token, "/api/v1/cases").await).await;
        assert_eq!(
            (st, e["error"]["code"].as_str().unwrap()),
            (401, "token_expired")
        );

        // Lists are scoped: the receiver sees their district only, the unit its own cases only.
        let receiver = s.login("demo-receiver").await;
        let district = s.region_of("demo-receiver").await;
        let (_, page) = body(s.get(&receiver, "/api/v1/cases?per_page=500").await).await;
        assert!(page["total"].as_i64().unwrap() > 0);
        assert!(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["grid_code"].as_str().unwrap().starts_with(&district))
        );
        let total_all = s.db.store.count_cases().await.unwrap();
        assert!(page["total"].as_i64().unwrap() <= total_all);
        let unit_token = s.login("demo-unit").await;
        let (_, me) = body(s.get(&unit_token, "/api/v1/auth/me").await).await;
        let (_, page) = body(s.get(&unit_token, "/api/v1/cases?per_page=500").await).await;
        assert!(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["unit_code"] == me["unit_code"])
        );
        // A case outside the caller's jurisdiction looks like no case at all.
        let (rows, _) =
            s.db.store
                .list_cases(&wangge_store::CaseFilter {
                    limit: 500,
                    ..Default::default()
                })
                .await
                .unwrap();
        if let Some(foreign) = rows.iter().find(|c| !c.grid_code.starts_with(&district)) {
            let (st, e) = body(
                s.get(&receiver, &format!("/api/v1/cases/{}", foreign.id))
                    .await,
            )
            .await;
            assert_eq!(
                (st, e["error"]["code"].as_str().unwrap()),
                (404, "case_not_found")
            );
        }
        let (st, _) = body(s.get(&receiver, "/api/v1/cases?light=purple").await).await;
        assert_eq!(st, 422);
        let (st, _) = body(s.get(&receiver, "/api/v1/cases?region=%25").await).await;
        assert_eq!(st, 422, "a wildcard is no region");
        let (st, page) = body(
            s.get(
                &receiver,
                "/api/v1/cases?state=closed,handled&order=due&per_page=5",
            )
            .await,
        )
        .await;
        assert_eq!(st, 200);
        assert!(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["state"] == "closed" || c["state"] == "handled")
        );

        let (st, _) = body(s.post(&receiver, "/api/v1/auth/logout", &json!({})).await).await;
        assert_eq!(st, 204);
        let (st, _) = body(s.get(&receiver, "/api/v1/cases").await).await;
        assert_eq!(st, 401);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sessions_are_cookies_guarded_against_csrf() {
    let s = common::servers(Config::default()).await.remove(0);
    let resp = s
        .client
        .post(s.url("/api/v1/auth/login"))
        .json(&json!({"username": "demo-worker", "password": "demo", "session": true}))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let host = s.base.trim_start_matches("http://").to_owned();

    let (st, _) = body(
        s.client
            .get(s.url("/api/v1/cases"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "reading with the cookie");
    let (lon, lat) = s.point_in(&s.region_of("demo-worker").await).await;
    let report = json!({"category": "06001", "description": "垃圾", "lon": lon, "lat": lat, "source": "patrol"});
    let post = |extra: Vec<(&'static str, String)>| {
        let mut req = s
            .client
            .post(s.url("/api/v1/cases"))
            .header("cookie", &session)
            .json(&report);
        for (k, v) in extra {
            req = req.header(k, v);
        }
        req.send()
    };
    let (st, e) = body(post(vec![]).await.unwrap()).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("csrf_rejected"))
    );
    let (st, _) = body(
        post(vec![("sec-fetch-site", "cross-site".into())])
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = body(
        post(vec![("origin", "http://evil.example".into())])
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = body(
        post(vec![("origin", format!("http://{host}"))])
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201);
    let (st, _) = body(
        post(vec![("sec-fetch-site", "same-origin".into())])
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_changed_by_another_process_is_never_acted_on_stale() {
    use wangge_domain::case_loop::{Action, Actor};
    use wangge_domain::role::Role;
    let s = common::servers(Config::default()).await.remove(0);
    let d = Desk::new(&s).await;
    let case = d.report("demo-worker", "patrol", "09001").await;
    let id = uuid::Uuid::parse_str(case["id"].as_str().unwrap()).unwrap();
    // Another server process on the same SQLite file registers the case behind this one's back.
    let other = wangge_server::AppState::load(s.db.store.clone(), Config::default())
        .await
        .unwrap();
    let receiver = Actor {
        id: "other".into(),
        role: Role::Receiver,
        region: None,
        unit: None,
    };
    let row = wangge_server::cases::act(&other, &receiver, id, 1, Action::Register { note: None })
        .await
        .unwrap();
    assert_eq!(row.version, 2);
    // This server still holds version 1 in memory, where a receiver may reject. The command is
    // judged on what is stored (registered: voiding is the shift leader's), never on the copy.
    let (st, e) = d
        .try_act(
            "demo-receiver",
            &case,
            json!({"action": "reject", "reason": "重复"}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("forbidden_action")),
        "{e}"
    );
    assert_eq!(
        s.db.store.case(id).await.unwrap().unwrap().version,
        2,
        "nothing was written"
    );
    // … and one on the stored version 2 must succeed, on the stored state.
    let (st, fresh) = body(
        s.get(&d.tokens["demo-receiver"], &format!("/api/v1/cases/{id}"))
            .await,
    )
    .await;
    assert_eq!(
        (st, fresh["version"].as_i64(), fresh["state"].as_str()),
        (200, Some(2), Some("registered"))
    );
    let dispatched = d
        .act(
            "demo-dispatcher",
            &fresh,
            json!({"action": "dispatch", "unit": d.unit_code().await}),
        )
        .await;
    assert_eq!(dispatched["version"], 3);
    assert_eq!(dispatched["timeline"].as_array().unwrap().len(), 3);
    let stored = s.db.store.case(id).await.unwrap().unwrap();
    wangge_server::cases::verify_timeline(&s.state, &stored)
        .await
        .unwrap();
}
