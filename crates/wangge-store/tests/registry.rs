//! The base-data store against SQLite and, when WANGGE_TEST_DATABASE_URL is set, PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{NaiveDate, Utc};
use uuid::Uuid;
use wangge_store::registry::*;
use wangge_store::*;

/// Each store with a plain connection to the same database, for what the application cannot do.
async fn stores() -> Vec<(AnyStore, String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let path = path.to_str().unwrap().to_owned();
    let mut out = vec![(
        AnyStore::open(&path).await.unwrap(),
        format!("sqlite:{path}"),
        Some(dir),
    )];
    if let Some(url) = testing::fresh_postgres_url().await.unwrap() {
        out.push((AnyStore::open(&url).await.unwrap(), url, None));
    }
    out
}

fn house(code: &str, version: i64) -> HouseRow {
    HouseRow {
        district_code: "990101".into(),
        house_code: code.into(),
        grid_code: "990101001001001".into(),
        building_key: Some("和平路|12|3".into()),
        address: "和平路12号3栋501室".into(),
        use_kind: "residential".into(),
        lon: Some(114.3),
        lat: Some(30.58),
        body: b"{}".to_vec(),
        version,
        updated_at: Utc::now(),
    }
}

fn person(id: Uuid, index: u8) -> PersonRow {
    PersonRow {
        district_code: "990101".into(),
        id,
        name: "张三".into(),
        id_index: Some(vec![index; 16]),
        id_masked: "1101**********002X".into(),
        id_tail: "002X".into(),
        phone_index: None,
        phone_masked: None,
        phone_tail: None,
        gender: Some("male".into()),
        birth_date: NaiveDate::from_ymd_opt(1949, 12, 31),
        tags: ",elderly,".into(),
        grid_code: "990101001001001".into(),
        house_code: Some("H000001".into()),
        floating: false,
        status: "active".into(),
        left_on: None,
        body: Some(vec![1, 2, 3]),
        version: 1,
        updated_at: Utc::now(),
    }
}

fn access(action: &str) -> AccessRow {
    AccessRow {
        district_code: "990101".into(),
        id: Uuid::now_v7(),
        at: Utc::now(),
        user_id: None,
        username: "admin".into(),
        role: "admin".into(),
        action: action.into(),
        kind: "person".into(),
        record_key: None,
        purpose: Some("test".into()),
        client: None,
    }
}

#[tokio::test]
async fn records_are_versioned_and_a_stale_write_is_refused_whole() {
    for (store, _, _dir) in stores().await {
        let name = store.backend_name();
        let new = |row: HouseRow| Put {
            row,
            expected: None,
        };
        store
            .registry_write(&RegistryWrite {
                houses: vec![new(house("H000001", 1)), new(house("H000002", 1))],
                ..Default::default()
            })
            .await
            .unwrap();
        // Creating one that exists already fails, and takes the other write of the set with it.
        let again = RegistryWrite {
            houses: vec![new(house("H000003", 1)), new(house("H000001", 1))],
            ..Default::default()
        };
        assert!(
            matches!(
                store.registry_write(&again).await,
                Err(StoreError::Conflict { .. })
            ),
            "{name}"
        );
        assert!(
            store.house("990101", "H000003").await.unwrap().is_none(),
            "{name}"
        );
        // An update names the version it replaces.
        let mut h = house("H000001", 2);
        h.use_kind = "rental".into();
        let update = |row: HouseRow, expected| RegistryWrite {
            houses: vec![Put {
                row,
                expected: Some(expected),
            }],
            ..Default::default()
        };
        store.registry_write(&update(h.clone(), 1)).await.unwrap();
        assert!(store.registry_write(&update(h, 1)).await.is_err(), "{name}");
        let got = store.house("990101", "H000001").await.unwrap().unwrap();
        assert_eq!(
            (got.version, got.use_kind.as_str()),
            (2, "rental"),
            "{name}"
        );
        let (rows, total) = store
            .houses(&RecordFilter {
                region_prefix: Some("990101001".into()),
                q: Some("和平".into()),
                limit: 10,
                count: true,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!((rows.len(), total), (2, Some(2)), "{name}");
        let versions = store
            .record_versions_of("house", "990101", &["H000001".into(), "H404".into()])
            .await
            .unwrap();
        assert_eq!(versions, [("H000001".to_owned(), 2)], "{name}");
    }
}

#[tokio::test]
async fn one_identity_number_is_one_person_and_search_finds_them() {
    for (store, _, _dir) in stores().await {
        let name = store.backend_name();
        let put = |row| RegistryWrite {
            houses: vec![Put {
                row: house("H000001", 1),
                expected: None,
            }],
            people: vec![Put {
                row,
                expected: None,
            }],
            ..Default::default()
        };
        let id = Uuid::now_v7();
        store.registry_write(&put(person(id, 7))).await.unwrap();
        let mut twin = put(person(Uuid::now_v7(), 7));
        twin.houses.clear();
        assert!(
            matches!(
                store.registry_write(&twin).await,
                Err(StoreError::Conflict { .. })
            ),
            "{name}"
        );
        let search = |f: PeopleFilter| {
            let store = &store;
            async move {
                store
                    .people(&PeopleFilter { limit: 10, ..f })
                    .await
                    .unwrap()
                    .0
                    .len()
            }
        };
        assert_eq!(
            search(PeopleFilter {
                name: Some("张".into()),
                ..Default::default()
            })
            .await,
            1
        );
        assert_eq!(
            search(PeopleFilter {
                name: Some("%".into()),
                ..Default::default()
            })
            .await,
            0
        );
        assert_eq!(
            search(PeopleFilter {
                id_index: Some(vec![7; 16]),
                ..Default::default()
            })
            .await,
            1
        );
        assert_eq!(
            search(PeopleFilter {
                id_tail: Some("002X".into()),
                ..Default::default()
            })
            .await,
            1
        );
        assert_eq!(
            search(PeopleFilter {
                id_head: Some("1101".into()),
                ..Default::default()
            })
            .await,
            1
        );
        assert_eq!(
            search(PeopleFilter {
                tag: Some("elderly".into()),
                ..Default::default()
            })
            .await,
            1
        );
        assert_eq!(
            search(PeopleFilter {
                tag: Some("elder".into()),
                ..Default::default()
            })
            .await,
            0
        );
        assert_eq!(
            search(PeopleFilter {
                address: Some("和平路".into()),
                ..Default::default()
            })
            .await,
            1
        );
        assert_eq!(
            search(PeopleFilter {
                region_prefix: Some("990102".into()),
                ..Default::default()
            })
            .await,
            0
        );
        let found = store
            .people_by_index("990101", &[vec![7; 16], vec![8; 16]])
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{name}");
    }
}

#[tokio::test]
async fn the_access_log_is_append_only_even_outside_the_application() {
    for (store, url, _dir) in stores().await {
        let name = store.backend_name();
        store
            .registry_write(&RegistryWrite {
                access: vec![access("read_full")],
                ..Default::default()
            })
            .await
            .unwrap();
        let (rows, _) = store
            .access_log(&AccessFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{name}");
        let update = "UPDATE access_log SET username = 'nobody'";
        let delete = "DELETE FROM access_log";
        if url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            assert!(sqlx::query(update).execute(&pool).await.is_err());
            assert!(sqlx::query(delete).execute(&pool).await.is_err());
        } else {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            assert!(sqlx::query(update).execute(&pool).await.is_err());
            assert!(sqlx::query(delete).execute(&pool).await.is_err());
            assert!(
                sqlx::query("TRUNCATE access_log")
                    .execute(&pool)
                    .await
                    .is_err()
            );
        }
        let (rows, _) = store
            .access_log(&AccessFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(rows[0].username, "admin", "{name}");
    }
}
