//! The СБП endpoints: the kiosk's (signed exactly like the sync API, through
//! [`crate::http::authenticate`]) and the bank's notification endpoint (unauthenticated but for
//! the bank's own signature; refusals are counted as incidents by the aggregator; `OK` only
//! once the state is stored).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use backend_sync::sbp::{SbpQrRequest, SbpQrStatus};
use backend_sync::wire::{ErrorCode, WIRE_VERSION};

use super::bank::BankError;
use super::service::{Sbp, SbpError};
use crate::http::{authenticate, ApiError, AppState, Source};

/// The bank's notification endpoint.
pub const TBANK_NOTIFICATION_PATH: &str = "/bank/tbank/notification";

fn service(state: &AppState) -> Result<&std::sync::Arc<Sbp>, ApiError> {
    state.sbp.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::BankUnavailable,
            "СБП is not configured on this back office",
        )
    })
}

impl From<SbpError> for ApiError {
    fn from(e: SbpError) -> Self {
        match e {
            SbpError::Invalid(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, m)
            }
            SbpError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, m),
            SbpError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "no such СБП payment",
            ),
            SbpError::Bank(b @ BankError::Unreachable(_)) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::BankUnavailable,
                b.to_string(),
            ),
            SbpError::Bank(b) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::BankUnavailable,
                b.to_string(),
            ),
            SbpError::Store(s) => s.into(),
        }
    }
}

/// `POST /api/v1/sbp/qr`.
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(source): Extension<Source>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SbpQrStatus>, ApiError> {
    let terminal = authenticate(&state, &source, &method, &uri, &headers, &body).await?;
    let sbp = service(&state)?;
    let req: SbpQrRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            format!("not an СБП QR request: {e}"),
        )
    })?;
    if req.version != WIRE_VERSION {
        return Err(ApiError::unsupported_version(req.version));
    }
    Ok(Json(
        sbp.create(&terminal, &req.payment_id, req.amount_kopecks, &req.account)
            .await?,
    ))
}

/// `GET /api/v1/sbp/qr/{id}`.
pub(crate) async fn status(
    State(state): State<AppState>,
    Extension(source): Extension<Source>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<SbpQrStatus>, ApiError> {
    let terminal = authenticate(&state, &source, &method, &uri, &headers, b"").await?;
    Ok(Json(service(&state)?.status(&terminal, &id).await?))
}

/// `POST /api/v1/sbp/qr/{id}/revoke`.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Extension(source): Extension<Source>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<SbpQrStatus>, ApiError> {
    let terminal = authenticate(&state, &source, &method, &uri, &headers, &body).await?;
    Ok(Json(service(&state)?.revoke(&terminal, &id).await?))
}

/// `POST /bank/tbank/notification`: `OK` once stored; a refused one is a 400 and an incident.
pub(crate) async fn notification(
    State(state): State<AppState>,
    Extension(source): Extension<Source>,
    body: Bytes,
) -> Response {
    let Some(sbp) = state.sbp.clone() else {
        return (StatusCode::NOT_FOUND, "СБП is not configured").into_response();
    };
    match sbp.notification(&body).await {
        Ok(()) => sbp.bank.notification_ack().into_response(),
        Err(SbpError::Bank(e)) => {
            crate::http::refusal(
                &state,
                &source.0,
                None,
                "sbp_notification_refused",
                e.to_string(),
            )
            .await;
            (StatusCode::BAD_REQUEST, e.to_string()).into_response()
        }
        Err(e) => {
            // Not stored: the bank sends it again.
            tracing::error!(error = %e, "СБП notification not stored");
            (StatusCode::INTERNAL_SERVER_ERROR, "not stored").into_response()
        }
    }
}
