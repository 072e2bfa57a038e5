//! Test support: a demo city in a fresh database (SQLite, and PostgreSQL when
//! WANGGE_TEST_DATABASE_URL is set), served on a random port.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use wangge_server::{AppState, Config};
use wangge_store::{AnyStore, testing};

pub struct TestDb {
    pub store: AnyStore,
    _dir: Option<tempfile::TempDir>,
}

/// One empty database per backend under test.
pub async fn databases() -> Vec<TestDb> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.db");
    let mut out = vec![TestDb {
        store: AnyStore::open(path.to_str().unwrap()).await.unwrap(),
        _dir: Some(dir),
    }];
    if let Some(url) = testing::fresh_postgres_url().await.unwrap() {
        out.push(TestDb {
            store: AnyStore::open(&url).await.unwrap(),
            _dir: None,
        });
    }
    out
}

pub struct TestServer {
    pub base: String,
    pub state: AppState,
    pub client: reqwest::Client,
    pub db: TestDb,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A small demo city (about 120 grids, a few cases) served on 127.0.0.1:0.
pub async fn servers(config: Config) -> Vec<TestServer> {
    let mut out = Vec::new();
    for db in databases().await {
        wangge::demo::seed(&db.store, 120, 7, 5).await.unwrap();
        let state = AppState::load(db.store.clone(), config.clone())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app = wangge_server::app(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        out.push(TestServer {
            base: format!("http://{addr}"),
            state,
            client: reqwest::Client::new(),
            db,
        });
    }
    out
}

impl TestServer {
    /// Signs in a demo user and answers its bearer token.
    pub async fn login(&self, username: &str) -> String {
        let resp = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": username, "password": "demo"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "login {username}");
        let body: serde_json::Value = resp.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// An interior point of a current region.
    pub async fn point_in(&self, code: &str) -> (f64, f64) {
        use geo::InteriorPoint;
        use wangge_store::Store;
        let row = self.db.store.current_region(code).await.unwrap().unwrap();
        let g = wangge_server::atlas::parse_geometry(&row.geometry).unwrap();
        let p = g.interior_point().unwrap();
        (p.x(), p.y())
    }

    /// The region a demo user is bound to.
    pub async fn region_of(&self, username: &str) -> String {
        use wangge_store::Store;
        self.db
            .store
            .user_by_username(username)
            .await
            .unwrap()
            .unwrap()
            .region_code
            .unwrap()
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}
