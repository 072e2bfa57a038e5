//! Who is calling: password login (argon2id) issuing bearer tokens, and the extractor that turns a
//! token into the acting user. Tokens are random; only their SHA-256 is stored.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use wangge_domain::case_loop::Actor;
use wangge_domain::role::Role;
use wangge_store::{Store, TokenRow, UserRow};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How long a token from `POST /auth/login` lives.
pub const TOKEN_LIFETIME_HOURS: i64 = 12;
/// How long a resolved token is trusted without asking the database again.
const TOKEN_CACHE_SECONDS: u64 = 30;

/// argon2id with the crate's defaults (19 MiB, 2 passes): a PHC string with its own salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing failed: {e}"))
}

fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::PasswordVerifier;
    let Ok(parsed) = argon2::password_hash::phc::PasswordHash::new(phc) else {
        return false;
    };
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("wg_{hex}")
}

/// The signed-in user and what they act as.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user_id: uuid::Uuid,
    pub username: String,
    pub display_name: String,
    pub actor: Actor,
    pub token_hash: String,
}

/// Failed logins per username slow down further attempts, so passwords cannot be guessed at
/// speed; a success clears the count.
#[derive(Debug)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    /// Each argon2 check takes 19 MiB: a burst of sign-ins waits its turn instead of taking
    /// the server's memory.
    checks: tokio::sync::Semaphore,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            failures: Mutex::default(),
            checks: tokio::sync::Semaphore::new(2),
        }
    }
}

impl LoginThrottle {
    fn delay(&self, username: &str) -> Duration {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(username) {
            Some((n, at)) if *n >= 3 && at.elapsed() < Duration::from_secs(900) => {
                Duration::from_millis(250u64.saturating_mul(1 << (n - 3).min(5)))
                    .min(Duration::from_secs(8))
            }
            _ => Duration::ZERO,
        }
    }

    fn failed(&self, username: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map
            .entry(username.to_owned())
            .or_insert((0, Instant::now()));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = Instant::now();
    }

    fn succeeded(&self, username: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(username);
    }
}

/// A resolved token: its user, when the token expires, when it was looked up.
type CachedToken = (CurrentUser, DateTime<Utc>, Instant);

#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, CachedToken>>,
}

impl TokenCache {
    fn get(&self, hash: &str) -> Option<(CurrentUser, DateTime<Utc>)> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(hash)
            .filter(|(_, _, at)| at.elapsed() < Duration::from_secs(TOKEN_CACHE_SECONDS))
            .map(|(u, exp, _)| (u.clone(), *exp))
    }

    fn put(&self, hash: &str, user: CurrentUser, expires: DateTime<Utc>) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.clear();
        }
        map.insert(hash.to_owned(), (user, expires, Instant::now()));
    }

    pub fn forget(&self, hash: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(hash);
    }
}

/// The acting user, with the code of the unit a unit user belongs to.
fn current_user(
    state: &AppState,
    user: &UserRow,
    token_hash: String,
) -> Result<CurrentUser, ApiError> {
    let role: Role = user
        .role
        .parse()
        .map_err(|e: wangge_domain::role::UnknownRole| ApiError::internal(e))?;
    Ok(CurrentUser {
        user_id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        actor: Actor {
            id: user.username.clone(),
            role,
            region: user.region_code.clone(),
            unit: user
                .unit_id
                .and_then(|id| state.reference().unit_by_id(id).map(|u| u.code.clone())),
        },
        token_hash,
    })
}

fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let token = match bearer {
            Some(header) => header
                .strip_prefix("Bearer ")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    unauthorized(
                        "unauthenticated",
                        "the Authorization header must be 'Bearer <token>'",
                    )
                })?
                .to_owned(),
            None => {
                let token = session_cookie(&parts.headers).ok_or_else(|| {
                    unauthorized(
                        "unauthenticated",
                        "sign in first: send Authorization: Bearer <token>",
                    )
                })?;
                // A cookie rides along on any request the browser makes, even one another site
                // triggers: changes are accepted only from our own pages.
                check_same_origin(&parts.method, &parts.headers)?;
                token
            }
        };
        let hash = token_hash(&token);
        let now = Utc::now();
        if let Some((user, expires)) = state.tokens.get(&hash) {
            if expires <= now {
                state.tokens.forget(&hash);
                return Err(unauthorized(
                    "token_expired",
                    "the token has expired: sign in again",
                ));
            }
            return Ok(user);
        }
        let row = state.store.token(&hash).await?.ok_or_else(|| {
            unauthorized("invalid_token", "the token is not valid: sign in again")
        })?;
        if row.expires_at <= now {
            return Err(unauthorized(
                "token_expired",
                "the token has expired: sign in again",
            ));
        }
        let user = state
            .store
            .user(row.user_id)
            .await?
            .filter(|u| u.active)
            .ok_or_else(|| unauthorized("invalid_token", "the token's user is no longer active"))?;
        let current = current_user(state, &user, hash.clone())?;
        state.tokens.put(&hash, current.clone(), row.expires_at);
        Ok(current)
    }
}

pub const SESSION_COOKIE: &str = "wangge_session";

fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// CSRF protection for cookie sessions: an unsafe method must come from this site, as the
/// browser tells by `Sec-Fetch-Site`, or failing that by an `Origin` equal to our host.
pub fn check_same_origin(
    method: &axum::http::Method,
    headers: &axum::http::HeaderMap,
) -> Result<(), ApiError> {
    if method.is_safe() {
        return Ok(());
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let same_site = match header("sec-fetch-site") {
        Some(site) => site == "same-origin" || site == "none",
        None => match (header("origin"), header("host")) {
            (Some(origin), Some(host)) => {
                origin
                    .strip_prefix("http://")
                    .or_else(|| origin.strip_prefix("https://"))
                    == Some(host)
            }
            _ => false,
        },
    };
    if same_site {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_rejected",
            "this change did not come from a wangge page; reload the page and try again",
        ))
    }
}

/// The session cookie: HttpOnly, SameSite=Lax, and Secure when the server is reached over HTTPS
/// (`Config.secure_cookies`), so a browser never sends it in clear text.
pub fn session_cookie_header(state: &AppState, token: &str, max_age: i64) -> String {
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}")
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    username: String,
    password: String,
    /// Also set an HttpOnly session cookie, for the web console.
    #[serde(default)]
    session: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginAnswer {
    /// Send as `Authorization: Bearer <token>`.
    token: String,
    expires_at: DateTime<Utc>,
    user: Me,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    username: String,
    display_name: String,
    role: String,
    role_zh: String,
    region_code: Option<String>,
    unit_code: Option<String>,
}

fn me(u: &CurrentUser) -> Me {
    Me {
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        role: u.actor.role.as_str().into(),
        role_zh: u.actor.role.zh().into(),
        region_code: u.actor.region.clone(),
        unit_code: u.actor.unit.clone(),
    }
}

/// Signs in with a username and password; answers a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", request_body = LoginRequest,
    responses((status = 200, body = LoginAnswer), (status = 401, description = "invalid_credentials", body = crate::error::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    crate::api::ApiJson(req): crate::api::ApiJson<LoginRequest>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let signed = sign_in(&state, &req.username, req.password).await?;
    let answer = Json(LoginAnswer {
        token: signed.token,
        expires_at: signed.expires_at,
        user: me(&signed.user),
    });
    Ok(if req.session {
        ([(axum::http::header::SET_COOKIE, signed.cookie)], answer).into_response()
    } else {
        answer.into_response()
    })
}

/// A new session: the token (shown once), and the cookie that carries it for the console.
pub struct SignedIn {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: CurrentUser,
    pub cookie: String,
    pub role: Role,
}

/// Checks a password and opens a session. Failed attempts slow down further ones for that
/// username, and an unknown user costs the same time as a known one.
pub async fn sign_in(state: &AppState, username: &str, password: String) -> ApiResult<SignedIn> {
    let username = username.trim().to_owned();
    let delay = state.logins.delay(&username);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let user = state.store.user_by_username(&username).await?;
    // Verify even for an unknown user, so timing does not tell which part was wrong.
    let phc = user
        .as_ref()
        .filter(|u| u.active)
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.to_owned());
    let permit = state
        .logins
        .checks
        .acquire()
        .await
        .map_err(ApiError::internal)?;
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(ApiError::internal)?;
    drop(permit);
    let user = match (ok, user) {
        (true, Some(u)) if u.active => u,
        _ => {
            state.logins.failed(&username);
            return Err(unauthorized(
                "invalid_credentials",
                "wrong username or password",
            ));
        }
    };
    state.logins.succeeded(&username);
    let token = new_token();
    let hash = token_hash(&token);
    let now = Utc::now();
    let expires_at = now + chrono::Duration::hours(TOKEN_LIFETIME_HOURS);
    state
        .store
        .insert_token(&TokenRow {
            token_hash: hash.clone(),
            user_id: user.id,
            label: "login".into(),
            created_at: now,
            expires_at,
        })
        .await?;
    let current = current_user(state, &user, hash)?;
    Ok(SignedIn {
        cookie: session_cookie_header(state, &token, TOKEN_LIFETIME_HOURS * 3600),
        role: current.actor.role,
        token,
        expires_at,
        user: current,
    })
}

/// Ends a session: its token stops working at once, on this server and (within the token
/// cache's 30 s) on others.
pub async fn end_session(state: &AppState, user: &CurrentUser) -> ApiResult<()> {
    state.store.delete_token(&user.token_hash).await?;
    state.tokens.forget(&user.token_hash);
    Ok(())
}

/// A valid argon2id hash of a random password, verified against when the user does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo";

/// Ends this token.
#[utoipa::path(post, path = "/api/v1/auth/logout", responses((status = 204)), security(("bearer" = [])))]
pub async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<(StatusCode, [(axum::http::HeaderName, String); 1])> {
    end_session(&state, &user).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(
            axum::http::header::SET_COOKIE,
            session_cookie_header(&state, "", 0),
        )],
    ))
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/v1/auth/me", responses((status = 200, body = Me)), security(("bearer" = [])))]
pub async fn whoami(user: CurrentUser) -> Json<Me> {
    Json(me(&user))
}
