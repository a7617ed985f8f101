//! `POST /api/login`, `POST /api/logout` and `GET /api/me`: opening and
//! ending login sessions, and telling a client who it is.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use hubbub_core::accounts::{AccountError, Accounts};
use serde::Deserialize;
use serde_json::json;

use super::caller::{Caller, Credentials, Peer, SESSION_COOKIE};
use super::{ApiError, AppState};

/// The body of `POST /api/login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    name: String,
    password: String,
}

fn accounts(state: &AppState) -> Result<&Arc<Accounts>, ApiError> {
    Ok(state.auth.accounts().ok_or(AccountError::AccountsOff)?)
}

/// The session cookie: only for this hub's own pages (`SameSite=Strict`),
/// out of reach of scripts (`HttpOnly`), only over HTTPS when the hub
/// serves HTTPS (`Secure`). `max_age` 0 removes it.
fn session_cookie(https: bool, value: &str, max_age: i64) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    )
}

/// `POST /api/login` with `{"name","password"}`: opens a session; answers
/// `{"token","user","admin","expires"}` and sets the session cookie.
pub async fn login(
    State(state): State<AppState>,
    Peer(peer): Peer,
    body: Result<Json<LoginBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let accounts = accounts(&state)?;
    let Json(body) = body?;
    let login = accounts
        .login(&body.name, body.password.as_bytes(), peer)
        .await?;
    let max_age = (login.expires - Utc::now()).num_seconds().max(1);
    let cookie = session_cookie(state.https, &login.token, max_age);
    tracing::info!(user = %login.user, from = ?peer, "logged in");
    Ok(([(header::SET_COOKIE, cookie)], Json(login)).into_response())
}

/// `POST /api/logout`: ends the session of the token or cookie presented
/// (`{"ended":true}`, or `false` if it was not open) and removes the cookie.
pub async fn logout(
    State(state): State<AppState>,
    credentials: Credentials,
) -> Result<Response, ApiError> {
    let accounts = accounts(&state)?;
    let ended = match &credentials.token {
        Some((token, _)) => accounts.logout(token)?,
        None => false,
    };
    let cookie = session_cookie(state.https, "", 0);
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(json!({ "ended": ended })),
    )
        .into_response())
}

/// `GET /api/me`: `{"kind","name","admin","accounts","guests"}`: who the
/// caller is (`user`, or a visitor: `guest` with accounts on, `anonymous`
/// with them off, named per connection, so `name` is null), and what the
/// hub offers, so the web app knows whether to show a sign-in form.
pub async fn me(State(state): State<AppState>, caller: Caller) -> impl IntoResponse {
    let who = caller.reader();
    let user = caller.user().map(|u| u.name().to_string());
    Json(json!({
        "kind": who.kind(),
        "name": user,
        "admin": who.is_admin(),
        "accounts": state.auth.accounts().is_some(),
        "guests": state.auth.anonymous_allowed(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_secure_over_https_only() {
        let plain = session_cookie(false, "t0k", 60);
        assert_eq!(
            plain,
            "hubbub_session=t0k; HttpOnly; SameSite=Strict; Path=/; Max-Age=60"
        );
        assert!(session_cookie(true, "t0k", 60).ends_with("; Secure"));
        assert!(session_cookie(false, "", 0).contains("Max-Age=0"));
    }
}
