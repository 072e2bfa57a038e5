//! The same story against SQLite and, when WANGGE_TEST_DATABASE_URL is set, PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use uuid::Uuid;
use wangge_store::*;

async fn stores() -> Vec<(AnyStore, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut out = vec![(
        AnyStore::open(path.to_str().unwrap()).await.unwrap(),
        Some(dir),
    )];
    if let Some(url) = testing::fresh_postgres_url().await.unwrap() {
        out.push((AnyStore::open(&url).await.unwrap(), None));
    }
    out
}

fn region(code: &str, level: &str, parent: Option<&str>, at: chrono::DateTime<Utc>) -> RegionRow {
    RegionRow {
        id: Uuid::now_v7(),
        code: code.into(),
        name: format!("区域{code}"),
        level: level.into(),
        parent_code: parent.map(Into::into),
        area_class: "general".into(),
        geometry: r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}"#.into(),
        area_m2: 1.0,
        source_crs: "wgs84".into(),
        valid_from: at,
        valid_to: None,
    }
}

#[tokio::test]
async fn regions_keep_history_when_recut() {
    for (store, _dir) in stores().await {
        let name = store.backend_name();
        assert!(store.is_empty().await.unwrap());
        let t0 = Utc::now() - Duration::days(1);
        store
            .apply_region_change(&RegionChange {
                at: t0,
                retire: vec![],
                insert: vec![
                    region("110105", "district", None, t0),
                    region("110105001", "street", Some("110105"), t0),
                ],
            })
            .await
            .unwrap();
        assert!(!store.is_empty().await.unwrap());
        let t1 = Utc::now();
        let mut recut = region("110105001", "street", Some("110105"), t1);
        recut.name = "新街道".into();
        store
            .apply_region_change(&RegionChange {
                at: t1,
                retire: vec!["110105001".into()],
                insert: vec![recut],
            })
            .await
            .unwrap();
        let current = store.current_region("110105001").await.unwrap().unwrap();
        assert_eq!(current.name, "新街道", "{name}");
        let history = store.region_history("110105001").await.unwrap();
        assert_eq!(history.len(), 2, "{name}");
        assert!(history[0].valid_to.is_some());
        let streets = store
            .current_regions(Some("street"), Some("110105"))
            .await
            .unwrap();
        assert_eq!(streets.len(), 1, "{name}");
        // A second current version of the same code is refused, and nothing of the batch stays.
        let dup = store
            .apply_region_change(&RegionChange {
                at: Utc::now(),
                retire: vec![],
                insert: vec![
                    region("110105002", "street", Some("110105"), Utc::now()),
                    region("110105001", "street", Some("110105"), Utc::now()),
                ],
            })
            .await;
        assert!(dup.is_err(), "{name}");
        assert!(
            store.current_region("110105002").await.unwrap().is_none(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_case_is_stored_with_its_first_event() {
    for (store, _dir) in stores().await {
        let name = store.backend_name();
        store
            .upsert_categories(&[CategoryRow {
                kind: "matter".into(),
                code: "06001".into(),
                class_code: "06".into(),
                class_name: "市容环境类".into(),
                name: "暴露垃圾".into(),
                registration_standard: "r".into(),
                closing_standard: "c".into(),
                deadline_amount: 4,
                deadline_type: "working_hours".into(),
                active: true,
                auto_close: false,
                node_limits: "{}".into(),
            }])
            .await
            .unwrap();
        assert_eq!(store.categories().await.unwrap().len(), 1);
        let id = Uuid::now_v7();
        let now = Utc::now();
        let case = CaseRow {
            district_code: "110105".into(),
            id,
            category_kind: "matter".into(),
            category_code: "06001".into(),
            description: "<script>alert(1)</script> 垃圾".into(),
            address: None,
            lon: 116.4,
            lat: 39.9,
            grid_code: "110105001001001".into(),
            community_code: "110105001001".into(),
            street_code: "110105001".into(),
            source: "hotline_12345".into(),
            external_id: Some("T-1".into()),
            state: "reported".into(),
            version: 1,
            reported_at: now,
            updated_at: now,
            unit_code: None,
            level: "grid".into(),
            suspended: false,
            urgent: false,
            status: "{}".into(),
            node: Some("register".into()),
            node_started_at: Some(now),
            warn_at: None,
            due_at: None,
            component_code: None,
            component_unit: None,
        };
        let event = CaseEventRow {
            district_code: "110105".into(),
            case_id: id,
            seq: 1,
            action: "report".into(),
            actor: "api".into(),
            role: None,
            at: now,
            from_state: None,
            to_state: "reported".into(),
            payload: "{}".into(),
        };
        store.create_case(&case, &event).await.unwrap();
        let back = store.case(id).await.unwrap().unwrap();
        assert_eq!(back.description, case.description, "{name}");
        assert_eq!(back.external_id.as_deref(), Some("T-1"));
        let events = store.case_events("110105", id).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].to_state, "reported");
        // The same hotline ticket twice is a conflict, not a second case.
        let again = CaseRow {
            id: Uuid::now_v7(),
            ..case.clone()
        };
        let ev2 = CaseEventRow {
            case_id: again.id,
            ..event.clone()
        };
        assert!(
            matches!(
                store.create_case(&again, &ev2).await,
                Err(StoreError::Conflict { .. })
            ),
            "{name}"
        );
        assert_eq!(store.count_cases().await.unwrap(), 1);
        // An unknown category is refused by the database too.
        let bad = CaseRow {
            id: Uuid::now_v7(),
            category_code: "99999".into(),
            external_id: None,
            ..case
        };
        let ev3 = CaseEventRow {
            case_id: bad.id,
            ..event
        };
        assert!(store.create_case(&bad, &ev3).await.is_err(), "{name}");
    }
}
