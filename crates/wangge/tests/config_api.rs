//! Administrators configure what deadlines count on: the calendar and each category.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{Value, json};
use wangge_server::Config;

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_and_categories_are_configurable() {
    for s in common::servers(Config::default()).await {
        let admin = s.login("demo-admin").await;
        let leader = s.login("demo-leader").await;
        let (_, before) = send(
            s.client
                .get(s.url("/api/v1/calendar?year=2027"))
                .bearer_auth(&admin),
        )
        .await;
        let table = "# 2027 (example)\n2027-01-01 holiday\n2027-01-04 休\n2027-01-09 workday\n";
        let (st, after) = send(
            s.client
                .put(s.url("/api/v1/calendar/days"))
                .bearer_auth(&admin)
                .json(&json!({"table": table})),
        )
        .await;
        assert_eq!(st, 200, "{after}");
        assert_eq!(after["days"].as_array().unwrap().len(), 3);
        // Two weekdays off, one Saturday on: one working day fewer.
        assert_eq!(
            after["working_days"].as_u64().unwrap() + 1,
            before["working_days"].as_u64().unwrap()
        );
        // The new days survive a restart of the server's state.
        s.state.reload_calendar().await.unwrap();
        assert!(
            !s.state
                .calendar()
                .is_working_day(chrono::NaiveDate::from_ymd_opt(2027, 1, 4).unwrap())
        );

        let (st, e) = send(
            s.client
                .put(s.url("/api/v1/calendar/days"))
                .bearer_auth(&admin)
                .json(&json!({"table": "2027-02-01 holiday\n2027-02-30 holiday\n"})),
        )
        .await;
        assert_eq!(
            (st, e["error"]["details"]["line"].as_u64()),
            (422, Some(2)),
            "{e}"
        );
        let (st, _) = send(
            s.client
                .put(s.url("/api/v1/calendar/days"))
                .bearer_auth(&leader)
                .json(&json!({"table": table})),
        )
        .await;
        assert_eq!(st, 403);

        // A category that closes itself once the check passes.
        let (st, c) = send(s.client.patch(s.url("/api/v1/categories/matter/09006")).bearer_auth(&admin).json(&json!({"auto_close": true, "deadline_amount": 3, "deadline_type": "working_days"}))).await;
        assert_eq!(
            (
                st,
                c["auto_close"].as_bool(),
                c["deadline"]["amount"].as_i64()
            ),
            (200, Some(true), Some(3)),
            "{c}"
        );
        let (st, _) = send(
            s.client
                .patch(s.url("/api/v1/categories/matter/09006"))
                .bearer_auth(&admin)
                .json(&json!({"deadline_type": "moon_days"})),
        )
        .await;
        assert_eq!(st, 422);
        let (st, _) = send(
            s.client
                .patch(s.url("/api/v1/categories/matter/09006"))
                .bearer_auth(&leader)
                .json(&json!({"active": false})),
        )
        .await;
        assert_eq!(st, 403);
        let (st, _) = send(
            s.client
                .patch(s.url("/api/v1/categories/matter/99999"))
                .bearer_auth(&admin)
                .json(&json!({"active": false})),
        )
        .await;
        assert_eq!(st, 404);

        let worker = s.login("demo-worker").await;
        let (lon, lat) = s.point_in(&s.region_of("demo-worker").await).await;
        let (_, case) = send(s.client.post(s.url("/api/v1/cases")).bearer_auth(&worker).json(&json!({"category": "09006", "description": "占道经营", "lon": lon, "lat": lat, "source": "patrol"}))).await;
        let id = case["id"].as_str().unwrap().to_owned();
        let unit = s.login("demo-unit").await;
        let (_, me) = send(s.client.get(s.url("/api/v1/auth/me")).bearer_auth(&unit)).await;
        let mut case = case;
        for (token, command) in [
            (
                s.login("demo-receiver").await,
                json!({"action": "register"}),
            ),
            (
                s.login("demo-dispatcher").await,
                json!({"action": "dispatch", "unit": me["unit_code"]}),
            ),
            (unit.clone(), json!({"action": "accept"})),
            (unit.clone(), json!({"action": "handle"})),
            (worker.clone(), json!({"action": "check_pass"})),
        ] {
            let mut command = command;
            command["version"] = case["version"].clone();
            let (st, next) = send(
                s.client
                    .post(s.url(&format!("/api/v1/cases/{id}/actions")))
                    .bearer_auth(&token)
                    .json(&command),
            )
            .await;
            assert_eq!(st, 200, "{command}: {next}");
            case = next;
        }
        assert_eq!(case["state"], "closed");
        let last = case["timeline"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (last["action"].as_str(), last["actor"].as_str()),
            (Some("close"), Some("system"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_limits_per_category_and_urgent_cases() {
    let s = common::servers(Config::default()).await.remove(0);
    let admin = s.login("demo-admin").await;
    let (st, c) = send(s.client.patch(s.url("/api/v1/categories/matter/09008")).bearer_auth(&admin).json(&json!({
        "node_limits": {"dispatch": {"amount": 3, "type": "natural_days"}, "urgent": {"amount": 1, "type": "urgent_hours"}}
    }))).await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["node_limits"]["urgent"]["amount"], 1);
    for bad in [
        json!({"lunch": {"amount": 1, "type": "urgent_hours"}}),
        json!({"check": {"amount": 0, "type": "urgent_hours"}}),
        json!({"check": {"amount": 2, "type": "moon"}}),
    ] {
        let (st, e) = send(
            s.client
                .patch(s.url("/api/v1/categories/matter/09008"))
                .bearer_auth(&admin)
                .json(&json!({"node_limits": bad})),
        )
        .await;
        assert_eq!(
            (st, e["error"]["details"]["field"].as_str()),
            (422, Some("node_limits")),
            "{bad}"
        );
    }

    let worker = s.login("demo-worker").await;
    let receiver = s.login("demo-receiver").await;
    let dispatcher = s.login("demo-dispatcher").await;
    let unit = s.login("demo-unit").await;
    let (_, me) = send(s.client.get(s.url("/api/v1/auth/me")).bearer_auth(&unit)).await;
    let (lon, lat) = s.point_in(&s.region_of("demo-worker").await).await;
    let span = |case: &Value| {
        let start =
            chrono::DateTime::parse_from_rfc3339(case["clock"]["started_at"].as_str().unwrap())
                .unwrap();
        let due = chrono::DateTime::parse_from_rfc3339(case["clock"]["due_at"].as_str().unwrap())
            .unwrap();
        due - start
    };
    for urgent in [true, false] {
        let (_, mut case) = send(s.client.post(s.url("/api/v1/cases")).bearer_auth(&worker).json(&json!({
            "category": "09008", "description": "占道", "lon": lon, "lat": lat, "source": "patrol", "urgent": urgent
        }))).await;
        assert_eq!(case["urgent"], urgent);
        let id = case["id"].as_str().unwrap().to_owned();
        for (token, command) in [
            (&receiver, json!({"action": "register"})),
            (
                &dispatcher,
                json!({"action": "dispatch", "unit": me["unit_code"]}),
            ),
            (&unit, json!({"action": "accept"})),
        ] {
            let mut command = command;
            command["version"] = case["version"].clone();
            let (st, next) = send(
                s.client
                    .post(s.url(&format!("/api/v1/cases/{id}/actions")))
                    .bearer_auth(token)
                    .json(&command),
            )
            .await;
            assert_eq!(st, 200, "{next}");
            if next["clock"]["node"] == "dispatch" {
                // The category's own dispatch limit: three natural days.
                assert_eq!(span(&next), chrono::Duration::days(3));
            }
            case = next;
        }
        assert_eq!(case["clock"]["node"], "handle");
        if urgent {
            assert_eq!(
                span(&case),
                chrono::Duration::hours(1),
                "urgent: the category's urgent limit"
            );
        } else {
            assert!(
                span(&case) > chrono::Duration::hours(1),
                "not urgent: the category's handling deadline"
            );
        }
    }
}
