-- 0002: order_deadline gets its own sequence column (it was read by SQLite's rowid, which
-- PostgreSQL has not): the table is rebuilt, keeping each row's rowid as its seq.
CREATE TABLE order_deadline_0002 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL,
    step TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    done_ms INTEGER,
    warned_ms INTEGER,
    breached_ms INTEGER,
    UNIQUE (order_id, step)
);
INSERT INTO order_deadline_0002 (seq, order_id, step, start_ms, due_ms, done_ms, warned_ms,
                                 breached_ms)
SELECT rowid, order_id, step, start_ms, due_ms, done_ms, warned_ms, breached_ms
FROM order_deadline ORDER BY rowid;
DROP TABLE order_deadline;
ALTER TABLE order_deadline_0002 RENAME TO order_deadline;
CREATE INDEX order_deadline_open ON order_deadline (done_ms, due_ms);
