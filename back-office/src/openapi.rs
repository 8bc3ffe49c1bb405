//! The OpenAPI 3.0 description of the HTTP API, served at `/openapi.json`. The property tests
//! generate requests from this very document, so it must stay true to the router.

use serde_json::{json, Value};

fn signed() -> Value {
    json!([{"terminalHmac": []}])
}

fn err(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorReply"}}}})
}

fn dialect_param() -> Value {
    json!({"name": "dialect", "in": "query", "required": false,
        "description": "CSV dialect: standard (RFC 4180) or excel-ru (';', decimal comma, UTF-8 BOM)",
        "schema": {"type": "string", "enum": ["standard", "excel-ru"]}})
}

fn day_params() -> Value {
    json!([
        {"name": "from", "in": "query", "required": true, "schema": {"type": "string", "format": "date"}},
        {"name": "to", "in": "query", "required": true, "schema": {"type": "string", "format": "date"}}
    ])
}

fn csv_ok(desc: &str) -> Value {
    json!({"description": desc, "content": {"text/csv": {"schema": {"type": "string"}}}})
}

/// The document.
pub fn document() -> Value {
    let mut section_params = vec![json!({"name": "section", "in": "path", "required": true,
        "schema": {"type": "string", "enum": ["days.csv", "encashments.csv", "card.csv", "fd_gaps.csv", "shifts.csv", "unprinted.csv", "uncredited.csv", "stuck_notes.csv"]}})];
    section_params.extend(day_params().as_array().cloned().unwrap_or_default());
    section_params.push(dialect_param());
    let mut export_params = day_params().as_array().cloned().unwrap_or_default();
    export_params.push(dialect_param());
    json!({
      "openapi": "3.0.3",
      "info": {
        "title": "Kiosk back office",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "Terminal sync (signed with HMAC-SHA256, see x-kiosk-* headers), accounts, content, fleet health and finance reconciliation. Terminal requests sign `KIOSK-HMAC-SHA256\\nterminal\\ntimestamp\\nnonce\\nMETHOD\\npath?query\\n` followed by the body; timestamps must be within 300 s and nonces are single-use.",
        "license": {"name": "GPL-3.0-only"}
      },
      "paths": {
        "/api/v1/ingest": {"post": {
          "summary": "Store a batch of consecutive journal records (idempotent by terminal and seq)",
          "security": signed(),
          "parameters": [{"$ref": "#/components/parameters/Terminal"}, {"$ref": "#/components/parameters/Timestamp"}, {"$ref": "#/components/parameters/Nonce"}, {"$ref": "#/components/parameters/Signature"}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestBatch"}}}},
          "responses": {
            "200": {"description": "What the server now holds", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestReply"}}}},
            "400": err("Malformed batch or unsupported version"),
            "401": err("Missing, stale or bad signature, or unknown terminal"),
            "409": err("Replayed request (nonce seen before)"),
            "422": err("The batch breaks the hash chain or contradicts held records")
          }}},
        "/api/v1/heartbeat": {"post": {
          "summary": "Liveness and health of a terminal",
          "security": signed(),
          "parameters": [{"$ref": "#/components/parameters/Terminal"}, {"$ref": "#/components/parameters/Timestamp"}, {"$ref": "#/components/parameters/Nonce"}, {"$ref": "#/components/parameters/Signature"}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Heartbeat"}}}},
          "responses": {
            "200": {"description": "Accepted", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HeartbeatReply"}}}},
            "400": err("Malformed heartbeat"), "401": err("Authentication failed"), "409": err("Replay")
          }}},
        "/api/v1/accounts/{account}": {"get": {
          "summary": "Account with services, debts and meters (previous readings)",
          "security": signed(),
          "parameters": [{"name": "account", "in": "path", "required": true, "schema": {"type": "string", "maxLength": 32}},
            {"$ref": "#/components/parameters/Terminal"}, {"$ref": "#/components/parameters/Timestamp"}, {"$ref": "#/components/parameters/Nonce"}, {"$ref": "#/components/parameters/Signature"}],
          "responses": {
            "200": {"description": "The account", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AccountReply"}}}},
            "400": err("Malformed account number"), "401": err("Authentication failed"), "404": err("No such account"), "409": err("Replay")
          }}},
        "/api/v1/content": {"get": {
          "summary": "Tariffs, offices, FAQ and texts, when newer than `since`",
          "security": signed(),
          "parameters": [{"name": "since", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}},
            {"$ref": "#/components/parameters/Terminal"}, {"$ref": "#/components/parameters/Timestamp"}, {"$ref": "#/components/parameters/Nonce"}, {"$ref": "#/components/parameters/Signature"}],
          "responses": {
            "200": {"description": "Content or `content: null` when current", "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": err("Bad parameter"), "401": err("Authentication failed"), "409": err("Replay")
          }}},
        "/api/v1/fleet": {"get": {"summary": "Fleet state as JSON", "security": [{"apiToken": []}, {"session": []}],
          "responses": {"200": {"description": "One row per terminal", "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}, "401": err("Not logged in: an API token or a session is required"), "403": err("The caller's role may not use this, or a session request lacks its CSRF token")}}},
        "/api/v1/incidents": {"get": {"summary": "Refused signatures, replays, broken chains…", "security": [{"apiToken": []}, {"session": []}],
          "parameters": [{"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
          "responses": {"200": {"description": "Newest first", "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}, "400": err("Bad parameter"), "401": err("Not logged in: an API token or a session is required"), "403": err("The caller's role may not use this, or a session request lacks its CSRF token")}}},
        "/api/v1/messages": {"get": {"summary": "E-receipts with their delivery status (addresses masked) and the 5-minute confirmation figures", "security": [{"apiToken": []}, {"session": []}],
          "parameters": [
            {"name": "late", "in": "query", "required": false, "description": "Only those that missed the 5 minutes", "schema": {"type": "string", "enum": ["true", "false"]}},
            {"name": "terminal", "in": "query", "required": false, "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}
          ],
          "responses": {"200": {"description": "Figures and messages", "content": {"application/json": {"schema": {"type": "object"}}}}, "400": err("Bad parameter"), "401": err("Not logged in: an API token or a session is required"), "403": err("The caller's role may not use this, or a session request lacks its CSRF token")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics: messages per channel and status, queue-to-delivery latency, late confirmations", "security": [{"apiToken": []}, {"session": []}],
          "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}, "401": err("Not logged in: an API token or a session is required"), "403": err("The caller's role may not use this, or a session request lacks its CSRF token")}}},
        "/api/v1/reports/reconciliation": {"get": {"summary": "Reconciliation report as JSON", "security": [{"apiToken": []}, {"session": []}],
          "parameters": day_params(),
          "responses": {"200": {"description": "The report", "content": {"application/json": {"schema": {"type": "object"}}}}, "400": err("Bad dates"), "401": err("Not logged in: an API token or a session is required"), "403": err("The caller's role may not use this, or a session request lacks its CSRF token")}}},
        "/api/v1/reports/reconciliation.xlsx": {"get": {"summary": "Reconciliation report as an XLSX workbook (a sheet per section)", "security": [{"apiToken": []}, {"session": []}],
          "parameters": day_params(),
          "responses": {"200": {"description": "Workbook", "content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string", "format": "binary"}}}}, "400": err("Bad dates"), "401": err("Not logged in: an API token or a session is required"), "403": err("The caller's role may not use this, or a session request lacks its CSRF token")}}},
        "/api/v1/reports/reconciliation/{section}": {"get": {"summary": "One section as CSV: days.csv, encashments.csv, card.csv, fd_gaps.csv, shifts.csv, unprinted.csv, uncredited.csv, stuck_notes.csv", "security": [{"apiToken": []}, {"session": []}],
          "parameters": section_params,
          "responses": {"200": csv_ok("The section"), "400": err("Bad dates"), "401": err("Not logged in: an API token or a session is required"), "403": err("The caller's role may not use this, or a session request lacks its CSRF token"), "404": err("No such section")}}},
        "/api/v1/settlements": {"post": {"summary": "Import the acquirer's settlement CSV (format in the crate README)", "security": [{"apiToken": []}, {"session": []}],
          "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}},
          "responses": {"200": {"description": "Lines read and newly stored", "content": {"application/json": {"schema": {"type": "object"}}}}, "400": err("Bad file (line named)"), "401": err("Not logged in: an API token or a session is required"), "403": err("The caller's role may not use this, or a session request lacks its CSRF token")}}},
        "/api/v1/export/payments.csv": {"get": {"summary": "Payments for billing, one line per service allocation, with credited marks", "security": [{"apiToken": []}, {"session": []}],
          "parameters": export_params, "responses": {"200": csv_ok("Payments"), "400": err("Bad dates"), "401": err("Not logged in: an API token or a session is required"), "403": err("The caller's role may not use this, or a session request lacks its CSRF token")}}},
        "/api/v1/export/readings.csv": {"get": {"summary": "Meter readings for billing, with credited marks", "security": [{"apiToken": []}, {"session": []}],
          "parameters": export_params, "responses": {"200": csv_ok("Readings"), "400": err("Bad dates"), "401": err("Not logged in: an API token or a session is required"), "403": err("The caller's role may not use this, or a session request lacks its CSRF token")}}},
        "/api/v1/export/credited": {"post": {"summary": "Billing's credited marks: CSV `kind,terminal_id,id`", "security": [{"apiToken": []}, {"session": []}],
          "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}},
          "responses": {"200": {"description": "Marked counts", "content": {"application/json": {"schema": {"type": "object"}}}}, "400": err("Bad file (line named)"), "401": err("Not logged in: an API token or a session is required"), "403": err("The caller's role may not use this, or a session request lacks its CSRF token")}}},
        "/fleet": {"get": {"summary": "Fleet page (HTML with SVG charts)", "security": [{"apiToken": []}, {"session": []}], "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}, "401": err("Not logged in: an API token or a session is required"), "403": err("The caller's role may not use this, or a session request lacks its CSRF token")}}},
        "/fleet/charts/outage.svg": {"get": {"summary": "Outage minutes per terminal, 30 days", "security": [{"apiToken": []}, {"session": []}], "responses": {"200": {"description": "SVG", "content": {"image/svg+xml": {"schema": {"type": "string"}}}}, "401": err("Not logged in: an API token or a session is required"), "403": err("The caller's role may not use this, or a session request lacks its CSRF token")}}},
        "/fleet/charts/takings.svg": {"get": {"summary": "Takings per day, 14 days", "security": [{"apiToken": []}, {"session": []}], "responses": {"200": {"description": "SVG", "content": {"image/svg+xml": {"schema": {"type": "string"}}}}, "401": err("Not logged in: an API token or a session is required"), "403": err("The caller's role may not use this, or a session request lacks its CSRF token")}}},
        "/terminals/{id}": {"get": {"summary": "One terminal's page (HTML): devices, cash, outages, fiscal warnings, service history", "security": [{"apiToken": []}, {"session": []}],
          "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "maxLength": 32}}],
          "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}, "401": err("Not logged in: an API token or a session is required"), "403": err("The caller's role may not use this, or a session request lacks its CSRF token"), "404": {"description": "No such terminal (HTML page)", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
        "/api/v1/enrol": {"post": {
          "summary": "A new kiosk redeems its one-time enrolment code for its terminal id, key and time zone",
          "security": [],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EnrolRequest"}}}},
          "responses": {
            "200": {"description": "Enrolled: the key is issued now, any earlier key stops working", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EnrolReply"}}}},
            "400": err("Malformed request"),
            "403": err("Unknown, expired or already used code"),
            "429": err("Too many wrong codes from this address")
          }}},
        "/healthz": {"get": {"summary": "Server liveness", "responses": {"200": {"description": "ok", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"summary": "This document", "security": [{"apiToken": []}, {"session": []}], "responses": {"200": {"description": "OpenAPI 3.0", "content": {"application/json": {"schema": {"type": "object"}}}}, "401": err("Not logged in: an API token or a session is required")}}}
      },
      "components": {
        "securitySchemes": {
          "terminalHmac": {"type": "apiKey", "in": "header", "name": "x-kiosk-signature", "description": "HMAC-SHA256 under the terminal key, hex"},
          "apiToken": {"type": "http", "scheme": "bearer", "description": "A per-user API token (`back-office token add USER`); carries the user's role"},
          "session": {"type": "apiKey", "in": "cookie", "name": "bo_session", "description": "A browser session from /login; state-changing requests also need the X-CSRF-Token header or a csrf form field"}
        },
        "parameters": {
          "Terminal": {"name": "x-kiosk-terminal", "in": "header", "required": true, "schema": {"type": "string", "maxLength": 32}},
          "Timestamp": {"name": "x-kiosk-timestamp", "in": "header", "required": true, "schema": {"type": "integer"}},
          "Nonce": {"name": "x-kiosk-nonce", "in": "header", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}},
          "Signature": {"name": "x-kiosk-signature", "in": "header", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}
        },
        "schemas": {
          "ErrorReply": {"type": "object", "required": ["error", "message"], "properties": {
            "error": {"type": "string", "enum": ["missing_auth", "unknown_terminal", "bad_signature", "stale_request", "replay", "chain_broken", "bad_request", "unsupported_version", "not_found", "enrolment_refused", "too_many_attempts", "internal"]},
            "message": {"type": "string"}}},
          "EnrolRequest": {"type": "object", "required": ["code"], "properties": {
            "code": {"type": "string", "description": "As printed: XXXXX-XXXXX-XXXXX-XXXXX (Crockford base32)"}}},
          "EnrolReply": {"type": "object", "required": ["terminal_id", "key_hex", "time_zone"], "properties": {
            "terminal_id": {"type": "string"}, "key_hex": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "time_zone": {"type": "string"}}},
          "JournalRecord": {"type": "object", "required": ["seq", "time_utc", "kind", "payload", "prev_hash", "hash"], "properties": {
            "seq": {"type": "integer", "minimum": 1}, "time_utc": {"type": "string"}, "kind": {"type": "string"},
            "payload": {"type": "string", "description": "Canonical JSON text of the event"},
            "prev_hash": {"type": "string"}, "hash": {"type": "string"}}},
          "IngestBatch": {"type": "object", "required": ["version", "terminal_id", "records"], "properties": {
            "version": {"type": "integer", "enum": [1]}, "terminal_id": {"type": "string"},
            "records": {"type": "array", "maxItems": 1000, "items": {"$ref": "#/components/schemas/JournalRecord"}}}},
          "IngestReply": {"type": "object", "required": ["version", "held_up_to", "accepted", "duplicates", "gaps"], "properties": {
            "version": {"type": "integer"}, "held_up_to": {"type": "integer"}, "accepted": {"type": "integer"}, "duplicates": {"type": "integer"},
            "gaps": {"type": "array", "items": {"type": "object", "properties": {"from": {"type": "integer"}, "to": {"type": "integer"}}}}}},
          "Heartbeat": {"type": "object", "required": ["version", "terminal_id", "time_utc", "software_version", "service_state", "devices", "paper", "queue_len", "sync_lag_seconds"], "properties": {
            "version": {"type": "integer", "enum": [1]}, "terminal_id": {"type": "string"}, "time_utc": {"type": "string"},
            "software_version": {"type": "string"}, "service_state": {"type": "string"},
            "devices": {"type": "object", "additionalProperties": {"type": "string"}}, "paper": {"type": "string"},
            "queue_len": {"type": "integer", "minimum": 0}, "sync_lag_seconds": {"type": "integer", "minimum": 0},
            "outage_working_minutes": {"type": "integer", "minimum": 0, "nullable": true}}},
          "HeartbeatReply": {"type": "object", "properties": {"version": {"type": "integer"}, "server_time_utc": {"type": "string"}, "content_version": {"type": "integer"}}},
          "AccountReply": {"type": "object", "properties": {"version": {"type": "integer"}, "account": {"type": "object"}}}
        }
      }
    })
}
