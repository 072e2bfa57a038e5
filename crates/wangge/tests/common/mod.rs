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
        let app =
            wangge_server::app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
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

    /// Signs in through the JSON login with `"session": true`, as a script in the console may;
    /// answers the session cookie (`wangge_session=…`) to send back as the Cookie header.
    pub async fn session_cookie(&self, username: &str) -> String {
        let resp = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": username, "password": "demo", "session": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "login {username}");
        session_cookie_of(&resp)
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

    /// The code of the unit a demo user works in.
    pub async fn unit_of(&self, username: &str) -> String {
        use wangge_store::Store;
        let user = self
            .db
            .store
            .user_by_username(username)
            .await
            .unwrap()
            .unwrap();
        self.state
            .reference()
            .unit_by_id(user.unit_id.unwrap())
            .unwrap()
            .code
            .clone()
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

/// A signed-in console (browser) session: the session cookie, and requests that send it the
/// way a browser on our own page would.
pub struct Session<'a> {
    pub server: &'a TestServer,
    pub cookie: String,
    client: reqwest::Client,
}

impl TestServer {
    /// Signs in through the login form, as a browser does.
    pub async fn session(&self, username: &str) -> Session<'_> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = client
            .post(self.url("/login"))
            .header("Sec-Fetch-Site", "same-origin")
            .form(&[("username", username), ("password", "demo")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303, "console login {username}");
        let cookie = session_cookie_of(&resp);
        Session {
            server: self,
            cookie,
            client,
        }
    }
}

impl Session<'_> {
    /// A page: its status and HTML.
    pub async fn page(&self, path: &str) -> (u16, String) {
        let resp = self.get(path).await;
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.server.url(path))
            .header("Cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// The CSRF token of this session, as the page's forms carry it.
    pub async fn csrf(&self) -> String {
        let (_, html) = self.page("/console/desk/all").await;
        let at = html.find("name=\"_csrf\" value=\"").unwrap() + 20;
        html[at..at + 32].to_owned()
    }

    /// Posts a multipart form from one of our pages.
    pub async fn post_multipart(
        &self,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> reqwest::Response {
        self.client
            .post(self.server.url(path))
            .header("Cookie", &self.cookie)
            .header("Sec-Fetch-Site", "same-origin")
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Posts an urlencoded form from one of our pages.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.server.url(path))
            .header("Cookie", &self.cookie)
            .header("Sec-Fetch-Site", "same-origin")
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}

/// `wangge_session=…` from an answer's Set-Cookie headers.
fn session_cookie_of(resp: &reqwest::Response) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("wangge_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned()
}
