//! The HTTP API (axum): signed terminal endpoints, finance and fleet endpoints, the fleet page and
//! the OpenAPI document, plus the people's pages of [`crate::web`]. Every refusal is an
//! [`ErrorReply`] with a specific code; authentication and chain refusals are also stored as
//! incidents (unauthenticated ones aggregated, see [`crate::incidents::Aggregator`]).
//!
//! Only the terminal API (authenticated by each terminal's HMAC key), `/login` and `/healthz` are
//! reachable without a session or an API token; everything else sits behind
//! [`crate::access::guard`] with the [`Area`] of its route.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use backend_sync::auth::{self, AuthError};
use backend_sync::wire::{
    AccountReply, ContentReply, EnrolRequest, ErrorCode, ErrorReply, Heartbeat, HeartbeatReply,
    IngestBatch, MAX_BATCH_RECORDS, WIRE_VERSION,
};

use crate::access::{self, Area, Identity};
use crate::db::{Store, StoreError};
use crate::enrolment::{self, EnrolError};
use crate::ingest::IngestError;
use crate::{
    accounts, audit, content, export, fleet, incidents, ingest, now_utc, reconcile, report_out,
    sessions, settlement, terminals, web,
};

/// How long a browser session lasts unless configured otherwise.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Served over TLS: session cookies carry `Secure`.
    pub(crate) tls: bool,
    pub(crate) session_ttl: Duration,
    pub(crate) refusals: Arc<incidents::Aggregator>,
    /// Reverse proxies whose `X-Forwarded-For` names the real client.
    pub(crate) trusted_proxies: Arc<[std::net::IpAddr]>,
    /// СБП through a bank, when configured.
    pub(crate) sbp: Option<Arc<crate::sbp::Sbp>>,
}

impl AppState {
    pub fn new(store: Store) -> Self {
        AppState {
            store,
            tls: false,
            session_ttl: DEFAULT_SESSION_TTL,
            refusals: Arc::default(),
            trusted_proxies: Arc::from(Vec::new()),
            sbp: None,
        }
    }

    /// Takes СБП payments through `sbp` (whose poller the caller runs).
    pub fn with_sbp(mut self, sbp: Arc<crate::sbp::Sbp>) -> Self {
        self.sbp = Some(sbp);
        self
    }

    /// Trusts `X-Forwarded-For` from these proxies (for lockouts and incidents by address).
    pub fn with_trusted_proxies(mut self, proxies: Vec<std::net::IpAddr>) -> Self {
        self.trusted_proxies = Arc::from(proxies);
        self
    }

    /// Marks the state as served over TLS ([`crate::serve_tls`] does this itself).
    pub fn with_tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// How long a login lasts.
    pub fn with_session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }
}

/// An API refusal.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    /// A terminal's message of a wire version this server does not speak.
    pub(crate) fn unsupported_version(version: u32) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedVersion,
            format!("wire version {version} is not supported; this server speaks {WIRE_VERSION}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = ?self.code, message = %self.message, "request failed");
        }
        (
            self.status,
            Json(ErrorReply {
                error: self.code,
                message: self.message,
            }),
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            e.to_string(),
        )
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn guarded(state: &AppState, area: Area, routes: Router<AppState>) -> Router<AppState> {
    routes.route_layer(middleware::from_fn_with_state(
        (state.clone(), area),
        access::guard,
    ))
}

/// The terminal API: signed with each terminal's HMAC key, no session.
fn terminal_routes() -> Router<AppState> {
    Router::new()
        .route(backend_sync::wire::paths::INGEST, post(ingest_handler))
        .route(
            backend_sync::wire::paths::HEARTBEAT,
            post(heartbeat_handler),
        )
        .route("/api/v1/accounts/{account}", get(account_handler))
        .route(backend_sync::wire::paths::CONTENT, get(content_handler))
        .route(backend_sync::wire::paths::ENROL, post(enrol_handler))
        .route(backend_sync::sbp::paths::QR, post(crate::sbp::api::create))
        .route("/api/v1/sbp/qr/{id}", get(crate::sbp::api::status))
        .route("/api/v1/sbp/qr/{id}/revoke", post(crate::sbp::api::revoke))
        // The bank's: authenticated by the bank's own signature.
        .route(
            crate::sbp::api::TBANK_NOTIFICATION_PATH,
            post(crate::sbp::api::notification),
        )
}

/// Technicians' part: the fleet, terminal pages, incidents.
fn fleet_routes() -> Router<AppState> {
    Router::new()
        .route("/fleet", get(fleet_page))
        .route("/fleet/charts/outage.svg", get(outage_svg))
        .route("/fleet/charts/takings.svg", get(takings_svg))
        .route("/terminals/{id}", get(terminal_page))
        .route("/api/v1/fleet", get(fleet_json))
        .route("/api/v1/incidents", get(incidents_json))
        .route("/api/v1/messages", get(messages_json))
        .route("/metrics", get(metrics_text))
}

/// Finance's part: reports, exports, imports.
fn finance_routes() -> Router<AppState> {
    Router::new()
        .route("/finance", get(web::finance::finance_page))
        .route("/finance/settlement", post(web::finance::settlement_upload))
        .route("/finance/credited", post(web::finance::credited_upload))
        .route("/finance/sbp", get(crate::sbp::pages::page_handler))
        .route("/finance/sbp/refund", post(crate::sbp::pages::refund))
        .route(
            "/finance/sbp/registry",
            post(crate::sbp::pages::registry_upload),
        )
        .route(
            "/api/v1/sbp/registry",
            post(crate::sbp::pages::registry_api),
        )
        .route("/api/v1/sbp/payments", get(crate::sbp::pages::payments_api))
        .route("/api/v1/reports/reconciliation", get(reconciliation_json))
        .route(
            "/api/v1/reports/reconciliation.xlsx",
            get(reconciliation_xlsx),
        )
        .route(
            "/api/v1/reports/reconciliation/{section}",
            get(reconciliation_csv),
        )
        .route("/api/v1/settlements", post(settlement_import))
        .route("/api/v1/export/payments.csv", get(export_payments))
        .route("/api/v1/export/readings.csv", get(export_readings))
        .route("/api/v1/export/credited", post(export_credited))
}

/// Admins' part: users, terminals and keys, card terminals, the audit log.
fn admin_routes() -> Router<AppState> {
    use web::admin;
    Router::new()
        .route("/admin/users", get(admin::users_page).post(admin::user_add))
        .route("/admin/users/{name}/role", post(admin::user_set_role))
        .route("/admin/users/{name}/disable", post(admin::user_disable))
        .route("/admin/users/{name}/token", post(admin::token_add))
        .route("/admin/tokens/{id}/revoke", post(admin::token_revoke))
        .route(
            "/admin/terminals",
            get(admin::terminals_page).post(admin::terminal_add),
        )
        .route("/admin/terminals/{id}/enrol", post(admin::terminal_enrol))
        .route("/admin/terminals/{id}/rotate", post(admin::terminal_rotate))
        .route(
            "/admin/terminals/{id}/time-zone",
            post(admin::terminal_time_zone),
        )
        .route("/admin/card-terminals", post(admin::card_terminal_register))
        .route("/admin/audit", get(admin::audit_page))
        .route("/admin/alerts", get(admin::alerts_page))
}

/// Headers every answer carries: no framing (the admin forms cannot be clickjacked), no content
/// sniffing, no referrer to other sites, only this server's resources in a page; over TLS, HSTS.
async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if state.tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    resp
}

/// Builds the router.
pub fn router(state: AppState) -> Router {
    let public = Router::new()
        .route("/login", get(web::login_form).post(web::login_submit))
        .route("/healthz", get(|| async { "ok" }));
    let any = Router::new()
        .route("/", get(web::home))
        .route("/logout", post(web::logout))
        .route(
            "/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        );
    Router::new()
        .merge(terminal_routes())
        .merge(public)
        .merge(guarded(&state, Area::Any, any))
        .merge(guarded(&state, Area::Fleet, fleet_routes()))
        .merge(guarded(&state, Area::Finance, finance_routes()))
        .merge(guarded(&state, Area::Admin, admin_routes()))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "no such endpoint",
            )
        })
        .layer(DefaultBodyLimit::max(16 * 1024 * 1024))
        .layer(middleware::from_fn_with_state(state.clone(), tag_source))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}

async fn incident(store: &Store, terminal: Option<String>, code: &'static str, detail: String) {
    let now = now_utc();
    let shard = terminal.clone().unwrap_or_default();
    let r = store
        .run(&shard, move |sql| {
            incidents::record_in(sql, terminal.as_deref(), code, &detail, &now)
        })
        .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "could not store incident");
    }
}

/// The source address of a request, put into its extensions for every handler.
#[derive(Debug, Clone)]
pub struct Source(pub String);

async fn tag_source(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let source = access::source_of(req.extensions(), req.headers(), &state.trusted_proxies);
    req.extensions_mut().insert(Source(source));
    next.run(req).await
}

/// Stores an unauthenticated refusal, aggregated per source, kind and window.
pub(crate) async fn refusal(
    state: &AppState,
    source: &str,
    registered: Option<&str>,
    code: &'static str,
    detail: String,
) {
    let r = incidents::Refusal {
        source: source.to_string(),
        terminal: registered.map(str::to_string),
        code,
        detail,
    };
    let Some(flush) = state.refusals.note(&r, chrono::Utc::now().timestamp()) else {
        tracing::debug!(source, code, "refusal counted in memory");
        return;
    };
    tracing::warn!(
        source,
        code,
        terminal = registered.unwrap_or("-"),
        count = flush.count,
        "terminal API refusal"
    );
    let res = state
        .store
        .run("incidents", move |sql| {
            incidents::record_aggregated(sql, &r, &flush, &now_utc())
        })
        .await;
    if let Err(e) = res {
        tracing::error!(error = %e, "could not store incident");
    }
}

/// Authenticates a signed terminal request; returns the terminal id.
pub(crate) async fn authenticate(
    state: &AppState,
    source: &Source,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<String> {
    let source = source.0.as_str();
    let h = auth::headers_from(|name| headers.get(name).and_then(|v| v.to_str().ok())).map_err(
        |e| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::MissingAuth,
                e.to_string(),
            )
        },
    )?;
    let id = h.terminal_id.clone();
    if !terminals::valid_id(&id) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::UnknownTerminal,
            "malformed terminal id",
        ));
    }
    let lookup_id = id.clone();
    let key = state
        .store
        .read(move |sql| terminals::key_of(sql, &lookup_id))
        .await?;
    let Some(key_hex) = key else {
        refusal(
            state,
            source,
            None,
            "unknown_terminal",
            format!(
                "request to {} from unregistered terminal {id:?}",
                uri.path()
            ),
        )
        .await;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::UnknownTerminal,
            format!("terminal {id:?} is not registered"),
        ));
    };
    let key = auth::decode_key(&key_hex).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            e.to_string(),
        )
    })?;
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let now = chrono::Utc::now().timestamp();
    if let Err(e) = auth::verify(&key, &h, method.as_str(), path_and_query, body, now) {
        let (code, name) = match e {
            AuthError::Stale { .. } => (ErrorCode::StaleRequest, "stale_request"),
            AuthError::MissingHeader(_) => (ErrorCode::MissingAuth, "missing_auth"),
            _ => (ErrorCode::BadSignature, "bad_signature"),
        };
        refusal(
            state,
            source,
            Some(&id),
            name,
            format!("{} {}: {e}", method, uri.path()),
        )
        .await;
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, code, e.to_string()));
    }
    check_nonce(state, source, method, uri, &id, &h).await?;
    Ok(id)
}

/// Refuses a replayed request (a nonce seen before) of a correctly signed terminal.
async fn check_nonce(
    state: &AppState,
    source: &str,
    method: &Method,
    uri: &Uri,
    id: &str,
    h: &auth::SignedHeaders,
) -> ApiResult<()> {
    let (nid, nonce, ts) = (id.to_string(), h.nonce.clone(), h.timestamp);
    let fresh = state
        .store
        .run(id, move |sql| terminals::use_nonce(sql, &nid, &nonce, ts))
        .await?;
    if !fresh {
        refusal(
            state,
            source,
            Some(id),
            "replay",
            format!("{} {}: nonce {} used before", method, uri.path(), h.nonce),
        )
        .await;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::Replay,
            "this request was already received (nonce reused): sign every attempt afresh",
        ));
    }
    Ok(())
}

async fn ingest_handler(
    State(state): State<AppState>,
    Extension(source): Extension<Source>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let terminal = authenticate(&state, &source, &method, &uri, &headers, &body).await?;
    let batch: IngestBatch = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(format!("not an ingest batch: {e}")))?;
    if batch.version != WIRE_VERSION {
        return Err(ApiError::unsupported_version(batch.version));
    }
    if batch.terminal_id != terminal {
        return Err(ApiError::bad(format!(
            "batch names terminal {:?} but is signed by {terminal:?}",
            batch.terminal_id
        )));
    }
    if batch.records.len() > MAX_BATCH_RECORDS {
        return Err(ApiError::bad(format!(
            "{} records in one batch; at most {MAX_BATCH_RECORDS}",
            batch.records.len()
        )));
    }
    let now = now_utc();
    let t = terminal.clone();
    let result = state
        .store
        .run(&terminal, move |sql| {
            ingest::ingest(sql, &t, &batch.records, &now)
        })
        .await;
    match result {
        Ok(reply) => Ok(Json(reply).into_response()),
        Err(IngestError::Store(e)) => Err(e.into()),
        Err(IngestError::UnknownTerminal(t)) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::UnknownTerminal,
            format!("terminal {t:?} is not registered"),
        )),
        Err(e) => {
            incident(&state.store, Some(terminal), "chain_broken", e.to_string()).await;
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ChainBroken,
                e.to_string(),
            ))
        }
    }
}

async fn heartbeat_handler(
    State(state): State<AppState>,
    Extension(source): Extension<Source>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<HeartbeatReply>> {
    let terminal = authenticate(&state, &source, &method, &uri, &headers, &body).await?;
    let beat: Heartbeat = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(format!("not a heartbeat: {e}")))?;
    if beat.version != WIRE_VERSION {
        return Err(ApiError::unsupported_version(beat.version));
    }
    if beat.terminal_id != terminal {
        return Err(ApiError::bad("heartbeat names another terminal"));
    }
    let now = now_utc();
    let n = now.clone();
    let version = state
        .store
        .run(&terminal, move |sql| -> Result<u64, StoreError> {
            terminals::heartbeat(sql, &beat, &n)?;
            Ok(content::current(sql)?.content_version)
        })
        .await?;
    Ok(Json(HeartbeatReply {
        version: WIRE_VERSION,
        server_time_utc: now,
        content_version: version,
        // A bank is configured and answered lately.
        sbp_available: state.sbp.as_ref().is_some_and(|s| s.available()),
    }))
}

/// Wrong enrolment codes from one address before it is locked out (for
/// [`sessions::LOCKOUT_SECS`]); with 100-bit codes this only keeps the store and the log quiet.
const ENROL_FAILURES: i64 = 10;

/// `POST /api/v1/enrol`: redeems a one-time code (unsigned; the code is the credential).
async fn enrol_handler(
    State(state): State<AppState>,
    Extension(source): Extension<Source>,
    body: Bytes,
) -> ApiResult<Response> {
    let request: EnrolRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(format!("not an enrolment request: {e}")))?;
    let throttle = format!("enrol:{}", source.0);
    let now = chrono::Utc::now();
    let key = throttle.clone();
    if let Some(until) = state
        .store
        .read(move |sql| sessions::locked_until(sql, &[key], now))
        .await?
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyAttempts,
            format!(
                "too many wrong enrolment codes from this address; try again after {}",
                until.format("%H:%M UTC")
            ),
        ));
    }
    let from = source.0.clone();
    let outcome = state
        .store
        .run("admin", move |sql| -> Result<_, StoreError> {
            match enrolment::redeem(sql, &request.code, &from, now) {
                Ok(enrolled) => {
                    sessions::clear(sql, &throttle)?;
                    Ok(Ok(enrolled))
                }
                Err(
                    EnrolError::Store(e) | EnrolError::Terminal(terminals::TerminalError::Store(e)),
                ) => Err(e),
                Err(refused) => {
                    sessions::record_failure(sql, &throttle, ENROL_FAILURES, now)?;
                    Ok(Err(refused))
                }
            }
        })
        .await?;
    let enrolled = match outcome {
        Ok(enrolled) => enrolled,
        Err(refused) => {
            refusal(
                &state,
                &source.0,
                None,
                "enrolment_refused",
                refused.to_string(),
            )
            .await;
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::EnrolmentRefused,
                refused.to_string(),
            ));
        }
    };
    tracing::info!(terminal = %enrolled.terminal_id, source = %source.0, "terminal enrolled");
    // The key must not linger in a proxy's or browser's cache.
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(enrolled)).into_response())
}

async fn account_handler(
    State(state): State<AppState>,
    Extension(source): Extension<Source>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(account): Path<String>,
) -> ApiResult<Json<AccountReply>> {
    authenticate(&state, &source, &method, &uri, &headers, b"").await?;
    if account.is_empty()
        || account.len() > 32
        || !account
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(ApiError::bad(
            "account numbers are 1–32 letters, digits or '-'",
        ));
    }
    let found = state
        .store
        .read(move |sql| accounts::lookup(sql, &account))
        .await?;
    match found {
        Some(account) => Ok(Json(AccountReply {
            version: WIRE_VERSION,
            account,
        })),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no such account",
        )),
    }
}

async fn content_handler(
    State(state): State<AppState>,
    Extension(source): Extension<Source>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<ContentReply>> {
    authenticate(&state, &source, &method, &uri, &headers, b"").await?;
    let since: u64 = match q.get("since") {
        Some(s) => s
            .parse()
            .map_err(|_| ApiError::bad("since must be a non-negative integer"))?,
        None => 0,
    };
    let bundle = state.store.read(content::current).await?;
    let v = bundle.content_version;
    Ok(Json(ContentReply {
        version: WIRE_VERSION,
        content: (v != since).then_some(bundle),
        content_version: v,
    }))
}

async fn fleet_page(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> ApiResult<Html<String>> {
    let now = chrono::Utc::now();
    let html = state.store.read(move |sql| fleet::page(sql, now)).await?;
    Ok(Html(web::with_nav(&html, &who)))
}

async fn terminal_page(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let now = chrono::Utc::now();
    let i = id.clone();
    let body = state
        .store
        .read(move |sql| crate::terminal_page::body(sql, &i, now))
        .await?;
    Ok(match body {
        Some(b) => Html(web::page(&format!("Терминал {id}"), Some(&who), &b)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Html(web::message_page(
                Some(&who),
                "Нет такого терминала",
                &format!("Терминал {id} не зарегистрирован."),
            )),
        )
            .into_response(),
    })
}

fn svg(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("image/svg+xml"),
        )],
        body,
    )
        .into_response()
}

async fn outage_svg(State(state): State<AppState>) -> ApiResult<Response> {
    let now = chrono::Utc::now();
    let rows = state.store.read(move |sql| fleet::rows(sql, now)).await?;
    let data: Vec<_> = rows
        .into_iter()
        .map(|r| (r.terminal_id, r.outage_minutes_30d))
        .collect();
    Ok(svg(crate::charts::outage_bars(&data)))
}

async fn takings_svg(State(state): State<AppState>) -> ApiResult<Response> {
    let now = chrono::Utc::now();
    let data = state
        .store
        .read(move |sql| fleet::takings(sql, now, 14))
        .await?;
    Ok(svg(crate::charts::takings_lines(&data)))
}

async fn fleet_json(State(state): State<AppState>) -> ApiResult<Json<Vec<fleet::FleetRow>>> {
    let now = chrono::Utc::now();
    Ok(Json(
        state.store.read(move |sql| fleet::rows(sql, now)).await?,
    ))
}

async fn incidents_json(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<incidents::Incident>>> {
    let limit: i64 = match q.get("limit") {
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::bad("limit must be 1–1000"))?,
        None => 100,
    };
    Ok(Json(
        state
            .store
            .read(move |sql| incidents::latest(sql, limit))
            .await?,
    ))
}

/// `GET /api/v1/messages?late=true&terminal=T-001&limit=100`: the latest e-receipts with their
/// delivery status (addresses masked), or only those that missed the 5 minutes.
async fn messages_json(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<serde_json::Value>> {
    let limit: i64 = match q.get("limit") {
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::bad("limit must be 1–1000"))?,
        None => 100,
    };
    let late = match q.get("late").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(ApiError::bad(format!("late={other:?}: use true or false"))),
    };
    let terminal = q.get("terminal").cloned();
    let now = chrono::Utc::now();
    let (stats, rows) = state
        .store
        .read(move |sql| -> Result<_, StoreError> {
            let t = terminal.as_deref();
            let rows = if late {
                crate::messages::late_rows(sql, t, limit, now)?
            } else {
                crate::messages::list(sql, t, limit, now)?
            };
            Ok((crate::messages::stats(sql, t, now)?, rows))
        })
        .await?;
    Ok(Json(serde_json::json!({
        "confirmation_limit_seconds": crate::messages::CONFIRMATION_LIMIT_SECS,
        "stats": stats,
        "messages": rows,
    })))
}

/// `GET /metrics`: the Prometheus text format (messages and their 5-minute confirmation).
async fn metrics_text(State(state): State<AppState>) -> ApiResult<Response> {
    let now = chrono::Utc::now();
    let text = state
        .store
        .read(move |sql| crate::messages::metrics(sql, now))
        .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

/// `?dialect=standard|excel-ru` (standard when absent).
fn dialect(q: &HashMap<String, String>) -> ApiResult<report_out::Dialect> {
    match q.get("dialect") {
        None => Ok(report_out::Dialect::Standard),
        Some(d) => report_out::Dialect::parse(d)
            .ok_or_else(|| ApiError::bad(format!("dialect={d:?}: use standard or excel-ru"))),
    }
}

fn days(q: &HashMap<String, String>) -> ApiResult<(String, String)> {
    let get = |k: &str| -> ApiResult<String> {
        let v = q
            .get(k)
            .ok_or_else(|| ApiError::bad(format!("query parameter {k}=YYYY-MM-DD is required")))?;
        chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map_err(|_| ApiError::bad(format!("{k}={v:?} is not YYYY-MM-DD")))?;
        Ok(v.clone())
    };
    let (from, to) = (get("from")?, get("to")?);
    if from > to {
        return Err(ApiError::bad("from is after to"));
    }
    Ok((from, to))
}

async fn make_report(
    state: &AppState,
    q: &HashMap<String, String>,
) -> ApiResult<reconcile::Report> {
    let (from, to) = days(q)?;
    state
        .store
        .read(move |sql| reconcile::report(sql, &from, &to))
        .await
        .map_err(|e| match e {
            reconcile::ReconcileError::Store(s) => s.into(),
            other => ApiError::bad(other.to_string()),
        })
}

async fn reconciliation_json(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<reconcile::Report>> {
    Ok(Json(make_report(&state, &q).await?))
}

fn attachment(content_type: &'static str, name: String, body: Vec<u8>) -> Response {
    let disp = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disp),
        ],
        body,
    )
        .into_response()
}

async fn reconciliation_xlsx(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let report = make_report(&state, &q).await?;
    let name = format!("reconciliation-{}-{}.xlsx", report.from, report.to);
    let bytes = tokio::task::spawn_blocking(move || report_out::xlsx(&report))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                e.to_string(),
            )
        })?
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                e.to_string(),
            )
        })?;
    Ok(attachment(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        name,
        bytes,
    ))
}

async fn reconciliation_csv(
    State(state): State<AppState>,
    Path(section): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let name = section.strip_suffix(".csv").unwrap_or("").to_string();
    if !report_out::SECTIONS.contains(&name.as_str()) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!(
                "no section {section:?}; sections: {}",
                report_out::SECTIONS.join(", ")
            ),
        ));
    }
    let dialect = dialect(&q)?;
    let report = make_report(&state, &q).await?;
    let body = report_out::csv_section(&report, &name, dialect).unwrap_or_default();
    Ok(attachment(
        "text/csv; charset=utf-8",
        format!("{name}-{}-{}.csv", report.from, report.to),
        body,
    ))
}

async fn settlement_import(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let lines = settlement::parse(&body).map_err(|e| ApiError::bad(e.to_string()))?;
    let n = lines.len();
    let now = now_utc();
    let new = state
        .store
        .run("settlement", move |sql| -> Result<u64, StoreError> {
            let new = settlement::import(sql, &lines, &now)?;
            let detail = format!("{n} lines, {new} new");
            audit::record(
                sql,
                &audit::Act {
                    actor: &who.user,
                    action: "settlement_imported",
                    target: "settlement",
                    source: &who.source,
                    detail: &detail,
                },
                &now,
            )?;
            Ok(new)
        })
        .await?;
    Ok(Json(serde_json::json!({"lines": n, "imported": new})))
}

async fn export_payments(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let (from, to) = days(&q)?;
    let dialect = dialect(&q)?;
    let name = format!("payments-{from}-{to}.csv");
    let body = state
        .store
        .read(move |sql| export::payments_csv(sql, &from, &to))
        .await?;
    let body = report_out::in_dialect(&body, dialect);
    Ok(attachment("text/csv; charset=utf-8", name, body))
}

async fn export_readings(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let (from, to) = days(&q)?;
    let dialect = dialect(&q)?;
    let name = format!("readings-{from}-{to}.csv");
    let body = state
        .store
        .read(move |sql| export::readings_csv(sql, &from, &to))
        .await?;
    let body = report_out::in_dialect(&body, dialect);
    Ok(attachment("text/csv; charset=utf-8", name, body))
}

async fn export_credited(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let now = now_utc();
    let data = body.to_vec();
    let (p, r) = state
        .store
        .run(
            "credited",
            move |sql| -> Result<(u64, u64), export::ExportError> {
                let (p, r) = export::mark_credited(sql, &data, &now)?;
                let detail = format!("{p} payments, {r} readings");
                audit::record(
                    sql,
                    &audit::Act {
                        actor: &who.user,
                        action: "credited_imported",
                        target: "credited",
                        source: &who.source,
                        detail: &detail,
                    },
                    &now,
                )?;
                Ok((p, r))
            },
        )
        .await
        .map_err(|e| match e {
            export::ExportError::Store(s) => ApiError::from(s),
            other => ApiError::bad(other.to_string()),
        })?;
    Ok(Json(serde_json::json!({"payments": p, "readings": r})))
}
