BEGIN TRANSACTION;
CREATE TABLE alert_counter (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
INSERT INTO "alert_counter" VALUES('order',3);
CREATE TABLE alert_cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
INSERT INTO "alert_cursor" VALUES('incidents',3);
CREATE TABLE alert_order (
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
INSERT INTO "alert_order" VALUES('WO000001','leak:S1::1733101200000','leak','urgent','north','','dispatched','S1','','','东风站','换热站疑似泄漏（补水量超过循环流量2%或定压点压力下降） [S1]',1733101200000,1733101200000,1733101200000,NULL,NULL,'["opened", "dispatched"]');
INSERT INTO "alert_order" VALUES('WO000002','room_cold:R1::1733101200000','room_cold','repair','north','','dispatched','S1','B1','','东风路1号楼','室温低于18℃ [R1]',1733101200000,1733101200000,1733101200000,NULL,NULL,'["opened", "dispatched"]');
INSERT INTO "alert_order" VALUES('WO000003','outage:S1::1733101200000','outage','emergency','north','','dispatched','S1','','','东风站','换热站停暖（循环泵停运或供水温度过低） [S1]',1733101200000,1733101200000,1733101200000,NULL,NULL,'["opened", "dispatched"]');
CREATE TABLE billing_basis (
    incident_key TEXT NOT NULL,
    account_id TEXT NOT NULL,
    basis TEXT NOT NULL,
    from_ms INTEGER NOT NULL,
    to_ms INTEGER,
    cause TEXT NOT NULL,
    PRIMARY KEY (incident_key, account_id)
);
CREATE TABLE compensation (
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
CREATE TABLE desk_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    name TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    allowed INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE desk_call (
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
CREATE TABLE desk_call_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE desk_session (
    token_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE desk_signin_failure (
    who TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_ms INTEGER NOT NULL
);
CREATE TABLE desk_staff (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_ms INTEGER NOT NULL
);
CREATE TABLE desk_suspension (
    account_id TEXT NOT NULL,
    season INTEGER NOT NULL,
    call_id TEXT NOT NULL,
    PRIMARY KEY (account_id, season)
);
CREATE TABLE incident (
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
INSERT INTO "incident" VALUES('leak:S1::1733101200000','leak','S1','S1','','','',1733101200000,1733101200000,1733101200000,NULL,'{"holding_mpa_min": null, "makeup_share_max": null, "ongoing": false, "signs": []}');
INSERT INTO "incident" VALUES('room_cold:R1::1733101200000','room_cold','R1','S1','B1','','',1733101200000,1733101200000,1733101200000,NULL,'{"lowest_trailing_mean_c": null, "ongoing": false, "trailing_h": 0.0}');
INSERT INTO "incident" VALUES('outage:S1::1733101200000','outage','S1','S1','','','',1733101200000,1733101200000,1733101200000,NULL,'{"affected_accounts": 0, "cold_room_count": 0, "cold_rooms": [], "duration_h": 0.0, "escalations_h": [], "meters_without_flow": [], "meters_without_flow_count": 0, "ongoing": false, "reason": ""}');
CREATE TABLE incident_event (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    event TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO "incident_event" VALUES(1,'leak:S1::1733101200000','opened',1733101200000,'{"holding_mpa_min": null, "makeup_share_max": null, "ongoing": false, "signs": []}');
INSERT INTO "incident_event" VALUES(2,'room_cold:R1::1733101200000','opened',1733101200000,'{"lowest_trailing_mean_c": null, "ongoing": false, "trailing_h": 0.0}');
INSERT INTO "incident_event" VALUES(3,'outage:S1::1733101200000','opened',1733101200000,'{"affected_accounts": 0, "cold_room_count": 0, "cold_rooms": [], "duration_h": 0.0, "escalations_h": [], "meters_without_flow": [], "meters_without_flow_count": 0, "ongoing": false, "reason": ""}');
CREATE TABLE measurement_instrument (
    instrument_id TEXT PRIMARY KEY,
    accuracy_k REAL NOT NULL,
    certificate TEXT NOT NULL,
    expires TEXT NOT NULL,
    added_ms INTEGER NOT NULL
);
CREATE TABLE measurement_link (
    record_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    measured_ms INTEGER NOT NULL,
    verdict TEXT NOT NULL,
    incident_key TEXT NOT NULL DEFAULT '',
    opened INTEGER NOT NULL DEFAULT 0,
    quote TEXT NOT NULL DEFAULT '',
    at_ms INTEGER NOT NULL
);
CREATE TABLE measurement_order (
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
CREATE TABLE measurement_order_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE measurement_record (
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
CREATE TABLE measurement_signature (
    record_id TEXT NOT NULL,
    role TEXT NOT NULL,
    data TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (record_id, role)
);
CREATE TABLE notice (
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
CREATE TABLE order_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
INSERT INTO "order_audit" VALUES(1,'WO000001',1733101200000,'heatwatch','open','','opened','incident leak:S1::1733101200000');
INSERT INTO "order_audit" VALUES(2,'WO000001',1733101200000,'heatwatch','dispatch','opened','dispatched','crew north; on duty: wang, li');
INSERT INTO "order_audit" VALUES(3,'WO000002',1733101200000,'heatwatch','open','','opened','incident room_cold:R1::1733101200000');
INSERT INTO "order_audit" VALUES(4,'WO000002',1733101200000,'heatwatch','dispatch','opened','dispatched','crew north; on duty: wang, li');
INSERT INTO "order_audit" VALUES(5,'WO000003',1733101200000,'heatwatch','open','','opened','incident outage:S1::1733101200000');
INSERT INTO "order_audit" VALUES(6,'WO000003',1733101200000,'heatwatch','dispatch','opened','dispatched','crew north; on duty: wang, li');
INSERT INTO "order_audit" VALUES(7,'WO000001',1733104800000,'heatwatch','escalation_warn','dispatched','dispatched','on_site due 12-02 09:30');
INSERT INTO "order_audit" VALUES(8,'WO000002',1733104800000,'heatwatch','escalation_warn','dispatched','dispatched','contacted due 12-02 09:30');
INSERT INTO "order_audit" VALUES(9,'WO000003',1733104800000,'heatwatch','escalation_warn','dispatched','dispatched','contacted due 12-02 09:30');
INSERT INTO "order_audit" VALUES(10,'WO000001',1733104800000,'heatwatch','escalation_breach','dispatched','dispatched','on_site due 12-02 09:30');
INSERT INTO "order_audit" VALUES(11,'WO000002',1733104800000,'heatwatch','escalation_breach','dispatched','dispatched','contacted due 12-02 09:30');
INSERT INTO "order_audit" VALUES(12,'WO000003',1733104800000,'heatwatch','escalation_breach','dispatched','dispatched','contacted due 12-02 09:30');
CREATE TABLE order_deadline (
    order_id TEXT NOT NULL,
    step TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    done_ms INTEGER,
    warned_ms INTEGER,
    breached_ms INTEGER,
    PRIMARY KEY (order_id, step)
);
INSERT INTO "order_deadline" VALUES('WO000001','on_site',1733101200000,1733103000000,NULL,1733104800000,1733104800000);
INSERT INTO "order_deadline" VALUES('WO000002','contacted',1733101200000,1733103000000,NULL,1733104800000,1733104800000);
INSERT INTO "order_deadline" VALUES('WO000002','on_site',1733101200000,1733108400000,NULL,NULL,NULL);
INSERT INTO "order_deadline" VALUES('WO000003','contacted',1733101200000,1733103000000,NULL,1733104800000,1733104800000);
INSERT INTO "order_deadline" VALUES('WO000003','on_site',1733101200000,1733108400000,NULL,NULL,NULL);
INSERT INTO "order_deadline" VALUES('WO000003','notice',1733101200000,1733187600000,NULL,NULL,NULL);
CREATE TABLE outbox (
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
INSERT INTO "outbox" VALUES(1,'WO000001:order_new:opened:crew-hook','crew-hook','north','【供热工单】WO000001 跑冒滴漏抢修','【供热工单】WO000001（跑冒滴漏抢修）
地址：东风站
情况：换热站疑似泄漏（补水量超过循环流量2%或定压点压力下降） [S1]
时限：到场 12-02 09:30前
接单处理（点本人的链接，勿转发）：
wang（本人专用）：http://127.0.0.1:8765/o/WO000001/MTczMzM2MDQwMAB3YW5n.NGGDOEQMe8YVfB0dd0QfNA
li（本人专用）：http://127.0.0.1:8765/o/WO000001/MTczMzM2MDQwMABsaQ.kKLcBN7zkCUyfVj49qdyxA','{"crew": "north", "kind": "order_new", "links": {"li": "http://127.0.0.1:8765/o/WO000001/MTczMzM2MDQwMABsaQ.kKLcBN7zkCUyfVj49qdyxA", "wang": "http://127.0.0.1:8765/o/WO000001/MTczMzM2MDQwMAB3YW5n.NGGDOEQMe8YVfB0dd0QfNA"}, "order_id": "WO000001", "step": "opened"}',1733101200000,1733104920000,2,'pending',NULL,'channel crew-hook: apprise could not deliver');
INSERT INTO "outbox" VALUES(2,'WO000002:order_new:opened:crew-hook','crew-hook','north','【供热工单】WO000002 室温不达标维修','【供热工单】WO000002（室温不达标维修）
地址：东风路1号楼
情况：室温低于18℃ [R1]
时限：联系用户 12-02 09:30前；到场 12-02 11:00前
接单处理（点本人的链接，勿转发）：
wang（本人专用）：http://127.0.0.1:8765/o/WO000002/MTczMzM2MDQwMAB3YW5n.e3HVm6Rp8ihluxFoo7BKag
li（本人专用）：http://127.0.0.1:8765/o/WO000002/MTczMzM2MDQwMABsaQ.FRfNvKI3Hw7MFW_2oRGL0A','{"crew": "north", "kind": "order_new", "links": {"li": "http://127.0.0.1:8765/o/WO000002/MTczMzM2MDQwMABsaQ.FRfNvKI3Hw7MFW_2oRGL0A", "wang": "http://127.0.0.1:8765/o/WO000002/MTczMzM2MDQwMAB3YW5n.e3HVm6Rp8ihluxFoo7BKag"}, "order_id": "WO000002", "step": "opened"}',1733101200000,1733104920000,0,'pending',NULL,'waiting: channel down');
INSERT INTO "outbox" VALUES(3,'WO000003:order_new:opened:crew-hook','crew-hook','north','【供热工单】WO000003 停暖抢修','【供热工单】WO000003（停暖抢修）
地址：东风站
情况：换热站停暖（循环泵停运或供水温度过低） [S1]
时限：联系用户 12-02 09:30前；到场 12-02 11:00前
接单处理（点本人的链接，勿转发）：
wang（本人专用）：http://127.0.0.1:8765/o/WO000003/MTczMzM2MDQwMAB3YW5n.nb13nLY5GlkymgbVllxVsQ
li（本人专用）：http://127.0.0.1:8765/o/WO000003/MTczMzM2MDQwMABsaQ.8hMaqnf4AsG7h6TDEArBLA','{"crew": "north", "kind": "order_new", "links": {"li": "http://127.0.0.1:8765/o/WO000003/MTczMzM2MDQwMABsaQ.8hMaqnf4AsG7h6TDEArBLA", "wang": "http://127.0.0.1:8765/o/WO000003/MTczMzM2MDQwMAB3YW5n.nb13nLY5GlkymgbVllxVsQ"}, "order_id": "WO000003", "step": "opened"}',1733101200000,1733104920000,0,'pending',NULL,'waiting: channel down');
INSERT INTO "outbox" VALUES(4,'WO000001:escalation_warn:on_site:sup','sup','supervisor','【工单预警】WO000001 即将超时','【工单预警】WO000001（跑冒滴漏抢修）已用去时限的80%
环节：到场，截止 12-02 09:30
地址：东风站
情况：换热站疑似泄漏（补水量超过循环流量2%或定压点压力下降） [S1]
负责人：未接单（班组 north）
查看：调度台 heatwatch orders show WO000001','{"crew": "supervisor", "kind": "escalation_warn", "order_id": "WO000001", "step": "on_site"}',1733104800000,1733104860000,1,'pending',NULL,'channel sup: apprise could not deliver');
INSERT INTO "outbox" VALUES(5,'WO000002:escalation_warn:contacted:sup','sup','supervisor','【工单预警】WO000002 即将超时','【工单预警】WO000002（室温不达标维修）已用去时限的80%
环节：联系用户，截止 12-02 09:30
地址：东风路1号楼
情况：室温低于18℃ [R1]
负责人：未接单（班组 north）
查看：调度台 heatwatch orders show WO000002','{"crew": "supervisor", "kind": "escalation_warn", "order_id": "WO000002", "step": "contacted"}',1733104800000,1733104860000,0,'pending',NULL,'waiting: channel down');
INSERT INTO "outbox" VALUES(6,'WO000003:escalation_warn:contacted:sup','sup','supervisor','【工单预警】WO000003 即将超时','【工单预警】WO000003（停暖抢修）已用去时限的80%
环节：联系用户，截止 12-02 09:30
地址：东风站
情况：换热站停暖（循环泵停运或供水温度过低） [S1]
负责人：未接单（班组 north）
查看：调度台 heatwatch orders show WO000003','{"crew": "supervisor", "kind": "escalation_warn", "order_id": "WO000003", "step": "contacted"}',1733104800000,1733104860000,0,'pending',NULL,'waiting: channel down');
INSERT INTO "outbox" VALUES(7,'WO000001:escalation_breach:on_site:sup','sup','supervisor','【工单超时】WO000001 已超时','【工单超时】WO000001（跑冒滴漏抢修）到场已超过时限
截止：12-02 09:30
地址：东风站
情况：换热站疑似泄漏（补水量超过循环流量2%或定压点压力下降） [S1]
负责人：未接单（班组 north）
查看：调度台 heatwatch orders show WO000001','{"crew": "supervisor", "kind": "escalation_breach", "order_id": "WO000001", "step": "on_site"}',1733104800000,1733104860000,0,'pending',NULL,'waiting: channel down');
INSERT INTO "outbox" VALUES(8,'WO000002:escalation_breach:contacted:sup','sup','supervisor','【工单超时】WO000002 已超时','【工单超时】WO000002（室温不达标维修）联系用户已超过时限
截止：12-02 09:30
地址：东风路1号楼
情况：室温低于18℃ [R1]
负责人：未接单（班组 north）
查看：调度台 heatwatch orders show WO000002','{"crew": "supervisor", "kind": "escalation_breach", "order_id": "WO000002", "step": "contacted"}',1733104800000,1733104860000,0,'pending',NULL,'waiting: channel down');
INSERT INTO "outbox" VALUES(9,'WO000003:escalation_breach:contacted:sup','sup','supervisor','【工单超时】WO000003 已超时','【工单超时】WO000003（停暖抢修）联系用户已超过时限
截止：12-02 09:30
地址：东风站
情况：换热站停暖（循环泵停运或供水温度过低） [S1]
负责人：未接单（班组 north）
查看：调度台 heatwatch orders show WO000003','{"crew": "supervisor", "kind": "escalation_breach", "order_id": "WO000003", "step": "contacted"}',1733104800000,1733104860000,0,'pending',NULL,'waiting: channel down');
CREATE TABLE report_snapshots (
    day TEXT NOT NULL,
    as_of_ms INTEGER NOT NULL,
    section TEXT NOT NULL,
    body TEXT NOT NULL,
    made_ms INTEGER NOT NULL,
    PRIMARY KEY (day, as_of_ms, section)
);
CREATE TABLE restore_estimates (
    incident_key TEXT PRIMARY KEY,
    restore_ms INTEGER NOT NULL,
    by TEXT NOT NULL,
    set_ms INTEGER NOT NULL
);
CREATE INDEX incident_open ON incident (closed_ms, kind);
CREATE INDEX alert_order_state ON alert_order (state);
CREATE INDEX order_deadline_open ON order_deadline (done_ms, due_ms);
CREATE INDEX order_audit_order ON order_audit (order_id, seq);
CREATE TRIGGER order_audit_no_update BEFORE UPDATE ON order_audit
BEGIN SELECT RAISE(ABORT, 'order_audit is append-only'); END;
CREATE TRIGGER order_audit_no_delete BEFORE DELETE ON order_audit
BEGIN SELECT RAISE(ABORT, 'order_audit is append-only'); END;
CREATE INDEX outbox_due ON outbox (status, channel, next_ms);
CREATE INDEX desk_call_state ON desk_call (state, due_ms);
CREATE INDEX desk_call_building ON desk_call (building_id, received_ms);
CREATE INDEX desk_call_account ON desk_call (account_id);
CREATE TRIGGER desk_call_audit_no_update BEFORE UPDATE ON desk_call_audit
BEGIN SELECT RAISE(ABORT, 'desk_call_audit is append-only'); END;
CREATE TRIGGER desk_call_audit_no_delete BEFORE DELETE ON desk_call_audit
BEGIN SELECT RAISE(ABORT, 'desk_call_audit is append-only'); END;
CREATE TRIGGER desk_audit_no_update BEFORE UPDATE ON desk_audit
BEGIN SELECT RAISE(ABORT, 'desk_audit is append-only'); END;
CREATE TRIGGER desk_audit_no_delete BEFORE DELETE ON desk_audit
BEGIN SELECT RAISE(ABORT, 'desk_audit is append-only'); END;
CREATE TRIGGER measurement_instrument_no_update
BEFORE UPDATE ON measurement_instrument
BEGIN SELECT RAISE(ABORT, 'measurement_instrument is append-only'); END;
CREATE TRIGGER measurement_instrument_no_delete
BEFORE DELETE ON measurement_instrument
BEGIN SELECT RAISE(ABORT, 'measurement_instrument is append-only'); END;
CREATE INDEX measurement_record_account ON measurement_record (account_id);
CREATE TRIGGER measurement_record_no_update BEFORE UPDATE ON measurement_record
BEGIN SELECT RAISE(ABORT, 'measurement_record is append-only'); END;
CREATE TRIGGER measurement_record_no_delete BEFORE DELETE ON measurement_record
BEGIN SELECT RAISE(ABORT, 'measurement_record is append-only'); END;
CREATE TRIGGER measurement_signature_no_update
BEFORE UPDATE ON measurement_signature
BEGIN SELECT RAISE(ABORT, 'measurement_signature is append-only'); END;
CREATE TRIGGER measurement_signature_no_delete
BEFORE DELETE ON measurement_signature
BEGIN SELECT RAISE(ABORT, 'measurement_signature is append-only'); END;
CREATE INDEX measurement_order_state ON measurement_order (state, due_ms);
CREATE INDEX measurement_order_ref ON measurement_order (source_ref);
CREATE TRIGGER measurement_order_audit_no_update
BEFORE UPDATE ON measurement_order_audit
BEGIN SELECT RAISE(ABORT, 'measurement_order_audit is append-only'); END;
CREATE TRIGGER measurement_order_audit_no_delete
BEFORE DELETE ON measurement_order_audit
BEGIN SELECT RAISE(ABORT, 'measurement_order_audit is append-only'); END;
CREATE INDEX measurement_link_account ON measurement_link (account_id, measured_ms);
CREATE TRIGGER measurement_link_no_update BEFORE UPDATE ON measurement_link
BEGIN SELECT RAISE(ABORT, 'measurement_link is append-only'); END;
CREATE TRIGGER measurement_link_no_delete BEFORE DELETE ON measurement_link
BEGIN SELECT RAISE(ABORT, 'measurement_link is append-only'); END;
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('incident_event',3);
INSERT INTO "sqlite_sequence" VALUES('order_audit',12);
INSERT INTO "sqlite_sequence" VALUES('outbox',9);
COMMIT;
