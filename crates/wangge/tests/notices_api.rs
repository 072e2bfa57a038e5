//! Notices over HTTP on every backend: notifications made by the case loop and the deadline
//! sweep (once each), delivery through a signed webhook, and announcements to roles in a region.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wangge_server::{Clock, Config};
use wangge_store::Store;
use wangge_store::notices::Notices;

async fn body(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A patrol report in demo-worker's grid, registered and dispatched to demo-unit's unit.
async fn dispatched_case(s: &common::TestServer) -> Value {
    let worker = s.login("demo-worker").await;
    let receiver = s.login("demo-receiver").await;
    let dispatcher = s.login("demo-dispatcher").await;
    let (lon, lat) = s.point_in(&s.region_of("demo-worker").await).await;
    let (st, case) = body(
        s.post(&worker, "/api/v1/cases", &json!({
            "category": "09001", "description": "井盖缺失，存在安全隐患", "lon": lon, "lat": lat, "source": "patrol"
        }))
        .await,
    )
    .await;
    assert_eq!(st, 201, "{case}");
    let case = act(s, &receiver, &case, json!({"action": "register"})).await;
    let unit = s.unit_of("demo-unit").await;
    act(
        s,
        &dispatcher,
        &case,
        json!({"action": "dispatch", "unit": unit}),
    )
    .await
}

async fn act(s: &common::TestServer, token: &str, case: &Value, mut command: Value) -> Value {
    command["version"] = case["version"].clone();
    let id = case["id"].as_str().unwrap();
    let (st, out) = body(
        s.post(token, &format!("/api/v1/cases/{id}/actions"), &command)
            .await,
    )
    .await;
    assert_eq!(st, 200, "{command}: {out}");
    out
}

/// A user's notifications about a case of a kind, waiting a little for the background task.
async fn notices_of(
    s: &common::TestServer,
    token: &str,
    case: &str,
    kind: &str,
    at_least: usize,
) -> Vec<Value> {
    let mut found = Vec::new();
    for _ in 0..50 {
        let (st, list) = body(s.get(token, "/api/v1/notifications?limit=200").await).await;
        assert_eq!(st, 200, "{list}");
        found = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["case_id"] == case && n["kind"] == kind)
            .cloned()
            .collect();
        if found.len() >= at_least {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_and_the_sweep_notify_the_holder_once() {
    let clock = Clock::manual(chrono::Utc::now());
    let config = Config {
        clock: clock.clone(),
        ..Config::default()
    };
    for s in common::servers(config).await {
        let unit = s.login("demo-unit").await;
        let case = dispatched_case(&s).await;
        let id = case["id"].as_str().unwrap().to_owned();

        // Dispatched: the unit's user is told.
        let assigned = notices_of(&s, &unit, &id, "assigned", 1).await;
        assert_eq!(assigned.len(), 1, "assigned: {assigned:?}");
        assert!(assigned[0]["read_at"].is_null());
        assert!(assigned[0]["text"].as_str().unwrap().contains("井盖"));

        // The unread count and marking read.
        let (_, count) = body(s.get(&unit, "/api/v1/notifications/unread-count").await).await;
        let before = count["unread"].as_i64().unwrap();
        assert!(before >= 1);
        let nid = assigned[0]["id"].as_str().unwrap();
        let (st, read) = body(
            s.post(
                &unit,
                &format!("/api/v1/notifications/{nid}/read"),
                &json!({}),
            )
            .await,
        )
        .await;
        assert_eq!(st, 200, "{read}");
        assert!(!read["read_at"].is_null());
        let (_, count) = body(s.get(&unit, "/api/v1/notifications/unread-count").await).await;
        assert_eq!(count["unread"].as_i64().unwrap(), before - 1);
        // Someone else's notification is not yours to read.
        let worker = s.login("demo-worker").await;
        let (st, _) = body(
            s.post(
                &worker,
                &format!("/api/v1/notifications/{nid}/read"),
                &json!({}),
            )
            .await,
        )
        .await;
        assert_eq!(st, 404);
        let (st, _) = body(
            s.post(&worker, "/api/v1/notifications/not-an-id/read", &json!({}))
                .await,
        )
        .await;
        assert_eq!(st, 422);

        // Urged by the district: the unit is told.
        let district = s.login("demo-district").await;
        let case = act(
            &s,
            &district,
            &case,
            json!({"action": "urge", "note": "尽快处理"}),
        )
        .await;
        let urged = notices_of(&s, &unit, &id, "urged", 1).await;
        assert_eq!(urged.len(), 1, "urged: {urged:?}");

        // Past due: one overdue notice after a sweep, and no second one after another.
        let row =
            s.db.store
                .case(uuid::Uuid::parse_str(&id).unwrap())
                .await
                .unwrap()
                .unwrap();
        let due = row.due_at.expect("a dispatched case has a deadline");
        clock.set(due + chrono::Duration::minutes(1));
        wangge_server::notices::sweep_once(&s.state).await.unwrap();
        wangge_server::notices::sweep_once(&s.state).await.unwrap();
        let overdue = notices_of(&s, &unit, &id, "overdue", 1).await;
        assert_eq!(overdue.len(), 1, "overdue: {overdue:?}");
        assert_eq!(
            notices_of(&s, &unit, &id, "due_soon", 0).await.len(),
            0,
            "the red instant passed: overdue only"
        );
        // Delivered through the log sender, recorded.
        let nid = uuid::Uuid::parse_str(overdue[0]["id"].as_str().unwrap()).unwrap();
        let mut deliveries = Vec::new();
        for _ in 0..50 {
            deliveries =
                s.db.store
                    .deliveries(&row.district_code, nid)
                    .await
                    .unwrap();
            if !deliveries.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(deliveries.len(), 1);
        assert_eq!(
            (
                deliveries[0].channel.as_str(),
                deliveries[0].status.as_str()
            ),
            ("log", "sent")
        );

        // The unit returns the case: the dispatchers are told.
        let dispatcher = s.login("demo-dispatcher").await;
        act(
            &s,
            &unit,
            &case,
            json!({"action": "return", "reason": "不属于本单位职责"}),
        )
        .await;
        let returned = notices_of(&s, &dispatcher, &id, "returned", 1).await;
        assert_eq!(returned.len(), 1, "returned: {returned:?}");
        assert!(
            returned[0]["text"]
                .as_str()
                .unwrap()
                .contains("不属于本单位职责")
        );

        // Read all.
        let (st, marked) = body(
            s.post(&unit, "/api/v1/notifications/read-all", &json!({}))
                .await,
        )
        .await;
        assert_eq!(st, 200);
        assert!(marked["marked"].as_u64().unwrap() >= 2, "{marked}");
        let (_, unread) = body(s.get(&unit, "/api/v1/notifications?unread=true").await).await;
        assert_eq!(unread.as_array().unwrap().len(), 0);
        clock.set(chrono::Utc::now());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_task_goes_to_the_grid_worker_and_rework_to_the_unit() {
    for s in common::servers(Config::default()).await {
        let unit = s.login("demo-unit").await;
        let worker = s.login("demo-worker").await;
        let case = dispatched_case(&s).await;
        let id = case["id"].as_str().unwrap().to_owned();
        let case = act(&s, &unit, &case, json!({"action": "accept"})).await;
        let case = act(
            &s,
            &unit,
            &case,
            json!({"action": "handle", "note": "已补装井盖"}),
        )
        .await;
        let tasks = notices_of(&s, &worker, &id, "check_task", 1).await;
        assert_eq!(tasks.len(), 1, "check_task: {tasks:?}");
        act(
            &s,
            &worker,
            &case,
            json!({"action": "check_fail", "reason": "井盖未固定"}),
        )
        .await;
        let rework = notices_of(&s, &unit, &id, "rework", 1).await;
        assert_eq!(rework.len(), 1, "rework: {rework:?}");

        // A hotline report waits for the grid worker's confirmation. Stored reports reach
        // on_case_change once cases.rs calls it after create_case; called here as it would be
        // (twice: the dedupe key keeps it one notice).
        let receiver = s.login("demo-receiver").await;
        let (lon, lat) = s.point_in(&s.region_of("demo-worker").await).await;
        let (st, case) = body(
            s.post(&receiver, "/api/v1/cases", &json!({
                "category": "09001", "description": "路灯不亮", "lon": lon, "lat": lat, "source": "hotline_12345"
            }))
            .await,
        )
        .await;
        assert_eq!(st, 201, "{case}");
        let id = uuid::Uuid::parse_str(case["id"].as_str().unwrap()).unwrap();
        let row = s.db.store.case(id).await.unwrap().unwrap();
        let events =
            s.db.store
                .case_events(&row.district_code, id)
                .await
                .unwrap();
        wangge_server::notices::on_case_change(&s.state, &row, &events[0]);
        wangge_server::notices::on_case_change(&s.state, &row, &events[0]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let tasks = notices_of(&s, &worker, &id.to_string(), "confirm_task", 1).await;
        assert_eq!(tasks.len(), 1, "confirm_task: {tasks:?}");
    }
}

type Received = Arc<Mutex<Vec<(Option<String>, String)>>>;

/// A webhook receiver on 127.0.0.1:0 that fails its first call (so the sender retries).
async fn webhook_receiver() -> (String, Received) {
    use axum::http::{HeaderMap, StatusCode};
    let received: Received = Arc::default();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = {
        let received = received.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let received = received.clone();
                let calls = calls.clone();
                async move {
                    if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let sig = headers
                        .get("x-wangge-signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    received.lock().unwrap().push((sig, body));
                    StatusCode::NO_CONTENT
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_gets_signed_notices_and_retries() {
    const SECRET: &str = "webhook-test-secret";
    let (url, received) = webhook_receiver().await;
    let config = Config {
        notice_webhook_url: Some(url),
        notice_webhook_secret: Some(SECRET.to_owned()),
        ..Config::default()
    };
    for (n, s) in common::servers(config).await.into_iter().enumerate() {
        received.lock().unwrap().clear();
        let case = dispatched_case(&s).await;
        let id = case["id"].as_str().unwrap().to_owned();
        let mut got = Vec::new();
        for _ in 0..80 {
            got = received.lock().unwrap().clone();
            if !got.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (sig, raw) = got
            .iter()
            .find(|(_, b)| b.contains(&id))
            .cloned()
            .expect("the webhook got the assigned notice");
        assert_eq!(
            sig.as_deref(),
            Some(
                wangge_server::notices::sender::signature(SECRET.as_bytes(), raw.as_bytes())
                    .as_str()
            ),
            "signed with the secret"
        );
        let v: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(v["kind"], "assigned");
        assert_eq!(v["recipient"], "demo-unit");
        let nid = uuid::Uuid::parse_str(v["id"].as_str().unwrap()).unwrap();
        let district = v["district"].as_str().unwrap().to_owned();
        let mut deliveries = Vec::new();
        for _ in 0..50 {
            deliveries = s.db.store.deliveries(&district, nid).await.unwrap();
            if !deliveries.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].channel, "webhook");
        assert_eq!(deliveries[0].status, "sent");
        if n == 0 {
            assert_eq!(
                deliveries[0].attempts, 2,
                "the receiver's first answer was a 503"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_reach_their_audience() {
    for s in common::servers(Config::default()).await {
        let street = s.login("demo-street").await;
        let worker = s.login("demo-worker").await;
        let unit = s.login("demo-unit").await;
        let community = s.login("demo-community").await;
        let street_code = s.region_of("demo-street").await;

        // The demo's district-wide announcement is there for everyone in the district.
        let (st, list) = body(s.get(&unit, "/api/v1/announcements").await).await;
        assert_eq!(st, 200);
        assert!(
            !list.as_array().unwrap().is_empty(),
            "demo announcement: {list}"
        );

        let (st, made) = body(
            s.post(&street, "/api/v1/announcements", &json!({
                "title": "网格员周例会", "body": "周五下午三点在街道分中心开会。", "roles": ["grid_worker"]
            }))
            .await,
        )
        .await;
        assert_eq!(st, 201, "{made}");
        assert_eq!(made["region"], street_code.as_str());
        let aid = made["id"].as_str().unwrap().to_owned();

        let has = |list: &Value| {
            list.as_array()
                .unwrap()
                .iter()
                .find(|a| a["id"] == aid.as_str())
                .cloned()
        };
        let (_, list) = body(s.get(&worker, "/api/v1/announcements").await).await;
        let seen = has(&list).expect("the street's grid worker sees it");
        assert_eq!(seen["read"], false);
        // Other roles, and people elsewhere, do not.
        let (_, list) = body(s.get(&community, "/api/v1/announcements").await).await;
        assert!(has(&list).is_none(), "not for community users");
        let (_, list) = body(s.get(&unit, "/api/v1/announcements").await).await;
        assert!(has(&list).is_none(), "not for unit users");
        // The author sees their own.
        let (_, list) = body(s.get(&street, "/api/v1/announcements").await).await;
        assert!(has(&list).is_some());

        // A grid worker elsewhere (another street) does not see it.
        let other_street =
            s.db.store
                .current_regions(Some("street"), None)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.code)
                .find(|c| c != &street_code)
                .expect("the demo city has another street");
        let admin = s.login("demo-admin").await;
        let other_grid =
            s.db.store
                .current_regions(Some("grid"), None)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.code)
                .find(|c| c.starts_with(&other_street))
                .expect("a grid in the other street");
        let other = wangge_store::UserRow {
            id: wangge_domain::new_id(),
            username: "notices-far-worker".into(),
            display_name: "远处网格员".into(),
            role: "grid_worker".into(),
            region_code: Some(other_grid),
            unit_id: None,
            password_hash: wangge_server::auth::hash_password("demo").unwrap(),
            active: true,
            created_at: chrono::Utc::now(),
        };
        s.db.store.insert_users(&[other]).await.unwrap();
        let far = s.login("notices-far-worker").await;
        let (_, list) = body(s.get(&far, "/api/v1/announcements").await).await;
        assert!(
            has(&list).is_none(),
            "not for grid workers of another street"
        );

        // Read marks.
        let (st, _) = body(
            s.post(
                &worker,
                &format!("/api/v1/announcements/{aid}/read"),
                &json!({}),
            )
            .await,
        )
        .await;
        assert_eq!(st, 204);
        let (_, list) = body(s.get(&worker, "/api/v1/announcements").await).await;
        assert_eq!(has(&list).unwrap()["read"], true);
        let (st, _) = body(
            s.post(
                &far,
                &format!("/api/v1/announcements/{aid}/read"),
                &json!({}),
            )
            .await,
        )
        .await;
        assert_eq!(st, 404, "not yours to read");

        // Validation names the field; grid workers may not post; the audience stays inside
        // the author's jurisdiction.
        for (req, field) in [
            (json!({"title": " ", "body": "x"}), "title"),
            (json!({"title": "t", "body": ""}), "body"),
            (
                json!({"title": "t", "body": "x", "roles": ["mayor"]}),
                "roles",
            ),
            (
                json!({"title": "t", "body": "x", "region": "999999"}),
                "region",
            ),
            (
                json!({"title": "t", "body": "x", "expires_at": "2000-01-01T00:00:00Z"}),
                "expires_at",
            ),
        ] {
            let (st, err) = body(s.post(&street, "/api/v1/announcements", &req).await).await;
            assert_eq!(st, 422, "{req}: {err}");
            assert_eq!(err["error"]["details"]["field"], field, "{err}");
        }
        let (st, err) = body(
            s.post(
                &street,
                "/api/v1/announcements",
                &json!({"title": "t", "body": "x", "region": other_street}),
            )
            .await,
        )
        .await;
        assert_eq!(st, 403, "{err}");
        assert_eq!(err["error"]["details"]["field"], "region");
        let (st, _) = body(
            s.post(
                &worker,
                "/api/v1/announcements",
                &json!({"title": "t", "body": "x"}),
            )
            .await,
        )
        .await;
        assert_eq!(st, 403);
        // An admin names the region.
        let (st, err) = body(
            s.post(
                &admin,
                "/api/v1/announcements",
                &json!({"title": "t", "body": "x"}),
            )
            .await,
        )
        .await;
        assert_eq!(
            (st, err["error"]["details"]["field"].as_str()),
            (422, Some("region"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_show_notices() {
    for s in common::servers(Config::default()).await {
        let street = s.session("demo-street").await;
        let (st, html) = street.page("/console/notices").await;
        assert_eq!(st, 200);
        assert!(
            html.contains("data-testid=\"bell\""),
            "the bell is in the header"
        );
        assert!(html.contains("环境整治"), "the demo announcement shows");
        let (st, html) = street.page("/console/announcements/new").await;
        assert_eq!(st, 200);
        let csrf = street.csrf().await;
        let resp = street
            .post_form(
                "/console/announcements/new",
                &[
                    ("_csrf", csrf.as_str()),
                    ("title", "防汛值班安排"),
                    ("body", "本周末请各网格员在岗值守。"),
                    ("roles", "grid_worker"),
                ],
            )
            .await;
        assert_eq!(resp.status().as_u16(), 303, "{html}");
        let worker = s.session("demo-worker").await;
        let (st, html) = worker.page("/m/notices").await;
        assert_eq!(st, 200);
        assert!(html.contains("防汛值班安排"));
        let (st, _) = worker.page("/console/announcements/new").await;
        assert_eq!(st, 403);
        // The bell's script reads the count with the session cookie.
        let resp = worker.get("/api/v1/notifications/unread-count").await;
        assert_eq!(resp.status().as_u16(), 200);
        let count: Value = resp.json().await.unwrap();
        assert!(count["unread"].is_i64(), "{count}");
        // A field error shows on the form again, naming the field.
        let resp = street
            .post_form(
                "/console/announcements/new",
                &[("_csrf", csrf.as_str()), ("title", "t"), ("body", " ")],
            )
            .await;
        assert_eq!(resp.status().as_u16(), 422);
        assert!(resp.text().await.unwrap().contains("data-field=\"body\""));
        for user in ["demo-unit", "demo-admin"] {
            let (st, _) = s.session(user).await.page("/console/notices").await;
            assert_eq!(st, 200, "{user}");
        }
    }
}
