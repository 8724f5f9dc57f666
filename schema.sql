-- fmn's PostgreSQL schema. Every table here is a projection of a JetStream
-- stream and can be dropped and rebuilt from it (fmn replay rules --rebuild).
-- Statements are idempotent: `fmn migrate`, and every role as it starts,
-- applies this file as it is when it changed since it was last applied.

-- The schema as last applied (its SHA-256): app.Migrate applies this file
-- only when it changed. Bookkeeping, not a projection.
CREATE TABLE IF NOT EXISTS schema_applied (
    id         int PRIMARY KEY CHECK (id = 1),
    sha256     text NOT NULL,
    applied_at timestamptz NOT NULL
);

-- Where each projector stands: the last stream sequence it applied, written
-- in the same transaction as the effects of that event.
CREATE TABLE IF NOT EXISTS projection_state (
    name     text PRIMARY KEY,
    last_seq bigint NOT NULL DEFAULT 0
);

-- projection_claim locks a projection's row when it stands at last_seq, and
-- otherwise fails (SQLSTATE FMN01) and with it the transaction. A projector
-- that knows where it left its projection sends this first and its writes
-- after it, all in one round trip: when another writer moved the position
-- meanwhile, nothing of it is applied (projection.Runner then reads the
-- position under the lock and applies the batch again from there).
CREATE OR REPLACE FUNCTION projection_claim(p_name text, p_last_seq bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM projection_state WHERE name = p_name AND last_seq = p_last_seq FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'projection % no longer stands at %', p_name, p_last_seq USING ERRCODE = 'FMN01';
  END IF;
END $$;

CREATE TABLE IF NOT EXISTS users (
    name       text PRIMARY KEY,
    created_at timestamptz NOT NULL
);
-- A user's id (FMN's User.id) is the RULES stream sequence of the event
-- that first recorded them: unique, stable across rebuilds, no
-- coordination. Rows projected before the column existed have none until
-- `fmn replay rules --rebuild`; the API shows null then, as FMN's model
-- allows.
ALTER TABLE users ADD COLUMN IF NOT EXISTS id bigint;
CREATE UNIQUE INDEX IF NOT EXISTS users_id ON users (id);

-- One row per live rule. id is the RULES stream sequence of its creation
-- event; version the sequence of its last event (the ETag).
CREATE TABLE IF NOT EXISTS rules (
    id               bigint PRIMARY KEY,
    username         text NOT NULL,
    name             text NOT NULL,
    disabled         boolean NOT NULL DEFAULT false,
    tracking_name    text NOT NULL,
    tracking_params  jsonb NOT NULL DEFAULT 'null',
    generation_rules jsonb NOT NULL DEFAULT '[]',
    version          bigint NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rules_username ON rules (username);
-- Where a rule came from: 'default' for a rule made from the admins'
-- default rules when its user was first seen, NULL for one a person made.
-- Set by the creation event and kept by every later change.
ALTER TABLE rules ADD COLUMN IF NOT EXISTS origin text;
CREATE INDEX IF NOT EXISTS rules_version ON rules (version);

-- Deleted rules leave a tombstone so that consumers can apply changes
-- incrementally (rules with version > N, tombstones with version > N).
CREATE TABLE IF NOT EXISTS rule_tombstones (
    rule_id bigint PRIMARY KEY,
    version bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS rule_tombstones_version ON rule_tombstones (version);

-- Notifications generated per rule and hour, fed by NOTIFY.
CREATE TABLE IF NOT EXISTS rule_generated (
    rule_id bigint NOT NULL,
    bucket  timestamptz NOT NULL,
    count   bigint NOT NULL,
    PRIMARY KEY (rule_id, bucket) INCLUDE (count)
);
-- Every read of a rule sums its last week: up to 168 rows, each written in
-- its own hour and so on a page of its own. The primary key carries count
-- so that the sum is an index-only scan of one stretch of the index: a user
-- whose 20 rules notified every hour costs PostgreSQL ~0.5 ms per read of
-- their rules instead of ~3-5 ms. The price: a count update is no longer a
-- HOT update (~1.7x the statistics projection's write time). A key made
-- before carries count after this.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = 'rule_generated_pkey'::regclass AND indnatts = indnkeyatts) THEN
    ALTER TABLE rule_generated DROP CONSTRAINT rule_generated_pkey,
      ADD CONSTRAINT rule_generated_pkey PRIMARY KEY (rule_id, bucket) INCLUDE (count);
  END IF;
END $$;
-- Retention (GeneratedDeleteBefore) and the admin statistics scan by time.
CREATE INDEX IF NOT EXISTS rule_generated_bucket ON rule_generated (bucket);

-- Notifications generated per user, application and channel and hour, fed
-- by NOTIFY in the transaction that moves projection_state('stats').
-- dimension is 'user', 'app' or 'channel'; key its value ('' for a message
-- without application). Summing the 'channel' rows counts every
-- notification once.
CREATE TABLE IF NOT EXISTS generated_stats (
    dimension text NOT NULL,
    key       text NOT NULL,
    bucket    timestamptz NOT NULL,
    count     bigint NOT NULL,
    PRIMARY KEY (dimension, key, bucket)
);
CREATE INDEX IF NOT EXISTS generated_stats_bucket ON generated_stats (bucket);

-- Delivery attempts per channel, result (sent, retry, dead) and hour, fed
-- by the delivery outcome events of EVENTS in the transaction that moves
-- projection_state('stats-deliveries').
CREATE TABLE IF NOT EXISTS delivery_stats (
    channel text NOT NULL,
    result  text NOT NULL,
    bucket  timestamptz NOT NULL,
    count   bigint NOT NULL,
    PRIMARY KEY (channel, result, bucket)
);
CREATE INDEX IF NOT EXISTS delivery_stats_bucket ON delivery_stats (bucket);

-- A user's delivery settings (DESIGN "Delivery settings"): the list of
-- non-default settings the user's last delivery.updated event carries (a
-- JSON array of delivery.Setting), and that event's sequence (the ETag of
-- GET /users/{u}/delivery). A user without a row has every destination at
-- the defaults. Senders load the whole (small) table into memory.
CREATE TABLE IF NOT EXISTS delivery_settings (
    username text PRIMARY KEY,
    settings jsonb NOT NULL DEFAULT '[]',
    version  bigint NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Answer versions: what the API's cache of GET /users/{u}/rules checks.
-- The rule projector sets a user's rules_version in every transaction that
-- applies an event of the user; the statistics projector sets
-- generated_version in every transaction that counts a notification of one
-- of the user's rules (and for every user when it rebuilds or imports
-- counts). Each value is a fresh number of answer_version, never given
-- twice, also across rebuilds: an answer read together with both versions
-- is the answer for as long as both stay (and the hour of its week's
-- window). A missing row reads as 0: nothing of that kind changed since
-- the tables exist (rows are never deleted, but by the rules rebuild in
-- the transaction that sets them again). Two tables, so that the two
-- projectors never wait for each other's row locks.
CREATE SEQUENCE IF NOT EXISTS answer_version;
CREATE TABLE IF NOT EXISTS user_rules_version (
    username text PRIMARY KEY,
    version  bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS user_generated_version (
    username text PRIMARY KEY,
    version  bigint NOT NULL
);
-- The users a projection made before these tables existed (the anti-join
-- makes this nearly free once they all have rows).
INSERT INTO user_rules_version (username, version)
SELECT u.name, nextval('answer_version') FROM users u
WHERE NOT EXISTS (SELECT 1 FROM user_rules_version v WHERE v.username = u.name)
ORDER BY u.name
ON CONFLICT (username) DO NOTHING;
INSERT INTO user_generated_version (username, version)
SELECT u.name, nextval('answer_version') FROM users u
WHERE NOT EXISTS (SELECT 1 FROM user_generated_version v WHERE v.username = u.name)
ORDER BY u.name
ON CONFLICT (username) DO NOTHING;
