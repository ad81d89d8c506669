//! `GET|POST /oauth2/userinfo` (OIDC Core §5.3): claims about the token's user, per scope.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value};

use crate::clock;
use crate::http::error::BearerError;
use crate::http::extract;
use crate::ids::UserId;
use crate::oauth::scope::{self, Scope};
use crate::profile;
use crate::state::AppState;
use crate::tokens;

pub fn routes() -> Router<AppState> {
    Router::new().route("/oauth2/userinfo", get(userinfo).post(userinfo))
}

async fn userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, BearerError> {
    let token = extract::bearer_token(&headers)
        .map_err(|()| BearerError::InvalidToken)?
        .ok_or(BearerError::Missing)?;
    let claims = state
        .keys
        .verify_access_token(token)
        .map_err(|_| BearerError::InvalidToken)?;
    if !tokens::is_live(&state.store, &claims, clock::now()).await? {
        return Err(BearerError::InvalidToken);
    }
    let user_id = claims
        .uid
        .as_deref()
        .and_then(UserId::parse)
        .ok_or(BearerError::InvalidToken)?;
    let granted = Scope::parse(&claims.scope).unwrap_or_default();
    if !granted.contains(scope::OPENID) {
        return Err(BearerError::InsufficientScope(scope::OPENID));
    }
    let user = profile::find(&state.store, &user_id)
        .await?
        .ok_or(BearerError::InvalidToken)?;
    let mut body = Map::new();
    body.insert("sub".into(), user.id.to_string().into());
    if granted.contains(scope::EMAIL) {
        body.insert("email".into(), user.email.into());
        body.insert("email_verified".into(), user.email_verified.into());
    }
    if granted.contains(scope::PROFILE) {
        body.insert("name".into(), user.name.map_or(Value::Null, Value::from));
    }
    Ok(Json(Value::Object(body)))
}
