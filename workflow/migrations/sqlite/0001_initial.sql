-- 0001: the workflow tables as heatwatch made them before migrations (IF NOT EXISTS: a
-- database made then takes this file as a no-op and is stamped version 1).
-- incidents
CREATE TABLE IF NOT EXISTS incident (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    substation_id TEXT NOT NULL DEFAULT '',
    building_id TEXT NOT NULL DEFAULT '',
    account_id TEXT NOT NULL DEFAULT '',
    cause TEXT NOT NULL DEFAULT '',
    started_ms INTEGER NOT NULL,
    detected_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    closed_ms INTEGER,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS incident_open ON incident (closed_ms, kind);
CREATE TABLE IF NOT EXISTS incident_event (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    event TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);

-- calls
CREATE TABLE IF NOT EXISTS desk_call (
    call_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    account_id TEXT NOT NULL,
    building_id TEXT NOT NULL DEFAULT '',
    substation_id TEXT NOT NULL DEFAULT '',
    received_ms INTEGER NOT NULL,
    taken_by TEXT NOT NULL,
    owner TEXT NOT NULL,
    due_ms INTEGER,
    state TEXT NOT NULL,
    incident_key TEXT NOT NULL DEFAULT '',
    order_id TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL DEFAULT '',
    reporter TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT '',
    reply TEXT NOT NULL DEFAULT '',
    satisfaction TEXT NOT NULL DEFAULT '',
    resolved_ms INTEGER,
    visit_due_ms INTEGER,
    closed_ms INTEGER,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS desk_call_state ON desk_call (state, due_ms);
CREATE INDEX IF NOT EXISTS desk_call_building ON desk_call (building_id, received_ms);
CREATE INDEX IF NOT EXISTS desk_call_account ON desk_call (account_id);
CREATE TABLE IF NOT EXISTS desk_call_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS desk_call_audit_no_update BEFORE UPDATE ON desk_call_audit
BEGIN SELECT RAISE(ABORT, 'desk_call_audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS desk_call_audit_no_delete BEFORE DELETE ON desk_call_audit
BEGIN SELECT RAISE(ABORT, 'desk_call_audit is append-only'); END;
CREATE TABLE IF NOT EXISTS desk_suspension (
    account_id TEXT NOT NULL,
    season INTEGER NOT NULL,
    call_id TEXT NOT NULL,
    PRIMARY KEY (account_id, season)
);

-- orders
CREATE TABLE IF NOT EXISTS alert_order (
    order_id TEXT PRIMARY KEY,
    incident_key TEXT NOT NULL,
    incident_kind TEXT NOT NULL,
    kind TEXT NOT NULL,
    crew TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    substation_id TEXT NOT NULL DEFAULT '',
    building_id TEXT NOT NULL DEFAULT '',
    account_id TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '',
    started_ms INTEGER NOT NULL,
    opened_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    resolved_ms INTEGER,
    closed_ms INTEGER,
    passed TEXT NOT NULL DEFAULT '[]',
    UNIQUE (incident_key, kind)
);
CREATE INDEX IF NOT EXISTS alert_order_state ON alert_order (state);
CREATE TABLE IF NOT EXISTS order_deadline (
    order_id TEXT NOT NULL,
    step TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    done_ms INTEGER,
    warned_ms INTEGER,
    breached_ms INTEGER,
    PRIMARY KEY (order_id, step)
);
CREATE INDEX IF NOT EXISTS order_deadline_open ON order_deadline (done_ms, due_ms);
CREATE TABLE IF NOT EXISTS order_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS order_audit_order ON order_audit (order_id, seq);
-- issue 5: the audit log is append-only
CREATE TRIGGER IF NOT EXISTS order_audit_no_update BEFORE UPDATE ON order_audit
BEGIN SELECT RAISE(ABORT, 'order_audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS order_audit_no_delete BEFORE DELETE ON order_audit
BEGIN SELECT RAISE(ABORT, 'order_audit is append-only'); END;
CREATE TABLE IF NOT EXISTS alert_cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alert_counter (name TEXT PRIMARY KEY, n INTEGER NOT NULL);

-- notices
CREATE TABLE IF NOT EXISTS notice (
    notice_id TEXT PRIMARY KEY,
    incident_key TEXT NOT NULL,
    account_id TEXT NOT NULL,
    building_id TEXT NOT NULL,
    substation_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    delivery TEXT NOT NULL,
    reason TEXT NOT NULL,
    expected_restore_ms INTEGER,
    text TEXT NOT NULL,
    UNIQUE (incident_key, account_id)
);
CREATE TABLE IF NOT EXISTS compensation (
    incident_key TEXT NOT NULL,
    account_id TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    duration_h REAL NOT NULL,
    days INTEGER NOT NULL,
    season_fee_cny TEXT NOT NULL,
    season_days INTEGER NOT NULL,
    amount_cny TEXT NOT NULL,
    final INTEGER NOT NULL DEFAULT 0,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (incident_key, account_id)
);
CREATE TABLE IF NOT EXISTS billing_basis (
    incident_key TEXT NOT NULL,
    account_id TEXT NOT NULL,
    basis TEXT NOT NULL,
    from_ms INTEGER NOT NULL,
    to_ms INTEGER,
    cause TEXT NOT NULL,
    PRIMARY KEY (incident_key, account_id)
);

-- outbox
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    created_ms INTEGER NOT NULL,
    next_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    sent_ms INTEGER,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, channel, next_ms);

-- staff
CREATE TABLE IF NOT EXISTS desk_staff (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS desk_session (
    token_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS desk_signin_failure (
    who TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS desk_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    name TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    allowed INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS desk_audit_no_update BEFORE UPDATE ON desk_audit
BEGIN SELECT RAISE(ABORT, 'desk_audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS desk_audit_no_delete BEFORE DELETE ON desk_audit
BEGIN SELECT RAISE(ABORT, 'desk_audit is append-only'); END;

-- measurements
CREATE TABLE IF NOT EXISTS measurement_instrument (
    instrument_id TEXT PRIMARY KEY,
    accuracy_k REAL NOT NULL,
    certificate TEXT NOT NULL,
    expires TEXT NOT NULL,
    added_ms INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS measurement_instrument_no_update
BEFORE UPDATE ON measurement_instrument
BEGIN SELECT RAISE(ABORT, 'measurement_instrument is append-only'); END;
CREATE TRIGGER IF NOT EXISTS measurement_instrument_no_delete
BEFORE DELETE ON measurement_instrument
BEGIN SELECT RAISE(ABORT, 'measurement_instrument is append-only'); END;
CREATE TABLE IF NOT EXISTS measurement_record (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    measured_ms INTEGER NOT NULL,
    reported_ms INTEGER NOT NULL,
    measurer TEXT NOT NULL,
    instrument_id TEXT NOT NULL,
    readings TEXT NOT NULL,
    conditions TEXT NOT NULL,
    outdoor_mean_c REAL,
    design_c REAL,
    outside_window INTEGER NOT NULL,
    late INTEGER NOT NULL,
    problems TEXT NOT NULL,
    corrects TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    approved_by TEXT NOT NULL DEFAULT '',
    signatures TEXT NOT NULL DEFAULT '[]',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS measurement_record_account ON measurement_record (account_id);
CREATE TRIGGER IF NOT EXISTS measurement_record_no_update BEFORE UPDATE ON measurement_record
BEGIN SELECT RAISE(ABORT, 'measurement_record is append-only'); END;
CREATE TRIGGER IF NOT EXISTS measurement_record_no_delete BEFORE DELETE ON measurement_record
BEGIN SELECT RAISE(ABORT, 'measurement_record is append-only'); END;

-- reports
CREATE TABLE IF NOT EXISTS report_snapshots (
    day TEXT NOT NULL,
    as_of_ms INTEGER NOT NULL,
    section TEXT NOT NULL,
    body TEXT NOT NULL,
    made_ms INTEGER NOT NULL,
    PRIMARY KEY (day, as_of_ms, section)
);

-- estimates
CREATE TABLE IF NOT EXISTS restore_estimates (
    incident_key TEXT PRIMARY KEY,
    restore_ms INTEGER NOT NULL,
    "by" TEXT NOT NULL,
    set_ms INTEGER NOT NULL
);

-- the analyzer's watermarks (made by analyzer.runner.Watermarks before migrations)
CREATE TABLE IF NOT EXISTS analyzer_watermark (name TEXT PRIMARY KEY, at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS analyzer_first_seen (device_id TEXT PRIMARY KEY, first_ms INTEGER NOT NULL);

-- signatures
CREATE TABLE IF NOT EXISTS measurement_signature (
    record_id TEXT NOT NULL,
    role TEXT NOT NULL,
    data TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (record_id, role)
);
CREATE TRIGGER IF NOT EXISTS measurement_signature_no_update
BEFORE UPDATE ON measurement_signature
BEGIN SELECT RAISE(ABORT, 'measurement_signature is append-only'); END;
CREATE TRIGGER IF NOT EXISTS measurement_signature_no_delete
BEFORE DELETE ON measurement_signature
BEGIN SELECT RAISE(ABORT, 'measurement_signature is append-only'); END;

-- visits
CREATE TABLE IF NOT EXISTS measurement_order (
    order_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    source TEXT NOT NULL,
    source_ref TEXT NOT NULL DEFAULT '',
    opened_ms INTEGER NOT NULL,
    opened_by TEXT NOT NULL,
    due_ms INTEGER,
    state TEXT NOT NULL,
    measurer TEXT NOT NULL DEFAULT '',
    record_id TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    updated_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS measurement_order_state ON measurement_order (state, due_ms);
CREATE INDEX IF NOT EXISTS measurement_order_ref ON measurement_order (source_ref);
CREATE TABLE IF NOT EXISTS measurement_order_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS measurement_order_audit_no_update
BEFORE UPDATE ON measurement_order_audit
BEGIN SELECT RAISE(ABORT, 'measurement_order_audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS measurement_order_audit_no_delete
BEFORE DELETE ON measurement_order_audit
BEGIN SELECT RAISE(ABORT, 'measurement_order_audit is append-only'); END;

-- measurement_links
CREATE TABLE IF NOT EXISTS measurement_link (
    record_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    measured_ms INTEGER NOT NULL,
    verdict TEXT NOT NULL,
    incident_key TEXT NOT NULL DEFAULT '',
    opened INTEGER NOT NULL DEFAULT 0,
    quote TEXT NOT NULL DEFAULT '',
    at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS measurement_link_account ON measurement_link (account_id, measured_ms);
CREATE TRIGGER IF NOT EXISTS measurement_link_no_update BEFORE UPDATE ON measurement_link
BEGIN SELECT RAISE(ABORT, 'measurement_link is append-only'); END;
CREATE TRIGGER IF NOT EXISTS measurement_link_no_delete BEFORE DELETE ON measurement_link
BEGIN SELECT RAISE(ABORT, 'measurement_link is append-only'); END;
