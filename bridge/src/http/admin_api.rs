//! `/api/admin/...`: users and room rules, for callers with the admin role.
//! Every route builds an [`AdminRequest`], the same requests the `hubbub
//! user ...` and `hubbub room ...` commands send, and hands it to the one
//! executor ([`hubbub_core::admin::Admin`]).

use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hubbub_core::access::RoomAccess;
use hubbub_core::accounts::AccountError;
use hubbub_core::admin::AdminRequest;
use serde_json::{json, Map, Value};

use super::caller::Caller;
use super::{ApiError, AppState};

/// A caller with the admin role. Extracting it refuses everyone else:
/// 404 `accounts_off` without accounts, 401 `login_required` without a
/// login, 403 `not_allowed` for a user who is not an administrator.
pub struct Administrator;

impl FromRequestParts<AppState> for Administrator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.auth.accounts().is_none() {
            return Err(AccountError::AccountsOff.into());
        }
        let caller = Caller::from_request_parts(parts, state).await?;
        match caller.user() {
            Some(user) if user.is_admin() => Ok(Self),
            Some(user) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not_allowed",
                format!("{user} is not an administrator (hubbub user role NAME admin)"),
            )),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "login_required",
                "log in as an administrator (POST /api/login) and send the token",
            )),
        }
    }
}

/// Builds the request `op` from fields of the path and a JSON object body,
/// so that a request reads exactly as the control socket's do and is
/// checked by the same rules (unknown fields refused).
fn request(op: &str, path: &[(&str, &str)], body: Option<Value>) -> Result<AdminRequest, ApiError> {
    let mut fields = match body {
        None => Map::new(),
        Some(Value::Object(fields)) => fields,
        Some(_) => return Err(ApiError::bad_request("bad_json", "send a JSON object")),
    };
    for (key, value) in path.iter().chain(&[("op", op)]) {
        if fields.insert((*key).to_owned(), json!(value)).is_some() {
            return Err(ApiError::bad_request(
                "bad_json",
                format!("`{key}` comes from the path; leave it out of the body"),
            ));
        }
    }
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| ApiError::bad_request("bad_json", e.to_string()))
}

/// Carries out a request; its answer is the response body.
async fn execute(state: &AppState, request: AdminRequest) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.admin.execute(request).await?))
}

/// A JSON body, as a value to build a request from.
fn body(body: Result<Json<Value>, JsonRejection>) -> Result<Option<Value>, ApiError> {
    Ok(Some(body?.0))
}

/// `GET /api/admin/users`
pub async fn users(
    State(state): State<AppState>,
    _: Administrator,
) -> Result<Json<Value>, ApiError> {
    execute(&state, AdminRequest::UserList).await
}

/// `POST /api/admin/users` with `{"name","password","admin"}`: 201.
pub async fn add_user(
    State(state): State<AppState>,
    _: Administrator,
    new: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let added = execute(&state, request("user_add", &[], body(new)?)?).await?;
    Ok((StatusCode::CREATED, added).into_response())
}

/// `DELETE /api/admin/users/{name}`
pub async fn delete_user(
    State(state): State<AppState>,
    _: Administrator,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    execute(&state, request("user_del", &[("name", &name)], None)?).await
}

/// `PUT /api/admin/users/{name}/password` with `{"password"}`; ends the
/// user's sessions.
pub async fn set_password(
    State(state): State<AppState>,
    _: Administrator,
    Path(name): Path<String>,
    password: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let request = request("user_passwd", &[("name", &name)], body(password)?)?;
    execute(&state, request).await
}

/// `PUT /api/admin/users/{name}/role` with `{"admin":true|false}`.
pub async fn set_role(
    State(state): State<AppState>,
    _: Administrator,
    Path(name): Path<String>,
    role: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    execute(
        &state,
        request("user_role", &[("name", &name)], body(role)?)?,
    )
    .await
}

/// `DELETE /api/admin/users/{name}/sessions`: ends every session of a user.
pub async fn revoke(
    State(state): State<AppState>,
    _: Administrator,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    execute(&state, request("user_revoke", &[("name", &name)], None)?).await
}

/// `GET /api/admin/rooms`: every room, private ones included, with its
/// rules, and every room that has rules but does not exist (yet).
pub async fn rooms(
    State(state): State<AppState>,
    _: Administrator,
) -> Result<Json<Value>, ApiError> {
    let ruled = state.admin.execute(AdminRequest::RoomList).await?;
    let mut rooms: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for summary in state.rooms.list_all() {
        let name = summary.name.to_string();
        let Ok(Value::Object(mut fields)) = serde_json::to_value(&summary) else {
            continue;
        };
        fields.remove("name");
        fields.insert("room".into(), json!(name));
        fields.insert("exists".into(), json!(true));
        fields.insert("rules".into(), json!(RoomAccess::default()));
        fields.insert("source".into(), json!("default"));
        fields.insert("unknown_users".into(), json!([]));
        rooms.insert(name, fields);
    }
    let ruled = ruled["rooms"].as_array().cloned().unwrap_or_default();
    for entry in ruled {
        let (Some(name), Value::Object(rules)) = (entry["room"].as_str().map(String::from), entry)
        else {
            continue;
        };
        let fields = rooms.entry(name).or_insert_with(|| {
            let mut fields = Map::new();
            fields.insert("exists".into(), json!(false));
            fields
        });
        fields.extend(rules);
    }
    Ok(Json(
        json!({ "rooms": rooms.into_values().collect::<Vec<_>>() }),
    ))
}

/// `GET /api/admin/rooms/{room}`: a room's rules and where they come from.
pub async fn room(
    State(state): State<AppState>,
    _: Administrator,
    Path(room): Path<String>,
) -> Result<Json<Value>, ApiError> {
    execute(&state, request("room_show", &[("room", &room)], None)?).await
}

/// `PUT /api/admin/rooms/{room}` with the rules
/// `{"private","members","readers","writers"}`; they replace the config
/// file's for that room and apply at once.
pub async fn set_room(
    State(state): State<AppState>,
    _: Administrator,
    Path(room): Path<String>,
    rules: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let rules = body(rules)?.map(|rules| json!({ "rules": rules }));
    execute(&state, request("room_set", &[("room", &room)], rules)?).await
}

/// `DELETE /api/admin/rooms/{room}`: drops the rules set at run time; the
/// config file's apply again.
pub async fn clear_room(
    State(state): State<AppState>,
    _: Administrator,
    Path(room): Path<String>,
) -> Result<Json<Value>, ApiError> {
    execute(&state, request("room_clear", &[("room", &room)], None)?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_built_from_the_path_and_the_body() {
        let r = request(
            "user_passwd",
            &[("name", "alice")],
            Some(json!({"password": "long enough"})),
        )
        .unwrap();
        assert!(matches!(r, AdminRequest::UserPasswd { name, .. } if name == "alice"));
        let clash = request(
            "user_del",
            &[("name", "alice")],
            Some(json!({"name": "bob"})),
        );
        assert_eq!(clash.unwrap_err().code(), "bad_json");
        let op = request("user_list", &[], Some(json!({"op": "user_del"})));
        assert_eq!(op.unwrap_err().code(), "bad_json");
        let unknown = request(
            "user_role",
            &[("name", "a")],
            Some(json!({"admin": true, "x": 1})),
        );
        assert_eq!(unknown.unwrap_err().code(), "bad_json");
        assert!(request("user_add", &[], Some(json!([1]))).is_err());
    }
}
