-- FMN v3's database schema, as PostgreSQL DDL, for the tests of
-- `fmn import fmn3` (package fmn3). Written for fmn from FMN v3's SQLAlchemy
-- models and Alembic migrations in fedora-infra/fmn at commit
-- 3c377f15b5c78d94d7231c54f66c2d51cba9e80c (2024-10-18):
--   fmn/database/main.py                  (naming convention of constraints and indexes)
--   fmn/database/model/user.py            users
--   fmn/database/model/rule.py            rules
--   fmn/database/model/tracking_rule.py   tracking_rules
--   fmn/database/model/generation_rule.py generation_rules
--   fmn/database/model/filter.py          filters
--   fmn/database/model/destination.py     destinations
--   fmn/database/model/generated.py       generated
--   fmn/database/migrations/versions/     a6c12ef04ee5 (rules.disabled), 59e22969e199
--                                         (generated), 85ea1d6c9a3f (rules.name nullable)
-- SQLAlchemy's Integer primary keys are SERIAL, JSON is PostgreSQL json,
-- UnicodeText is text, String(255) varchar(255), DateTime() timestamp
-- without time zone.

CREATE TABLE users (
    id   SERIAL NOT NULL,
    name TEXT NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_name_key UNIQUE (name)
);

CREATE TABLE rules (
    id       SERIAL NOT NULL,
    name     TEXT,
    disabled BOOLEAN DEFAULT FALSE NOT NULL,
    user_id  INTEGER NOT NULL,
    CONSTRAINT rules_pkey PRIMARY KEY (id),
    CONSTRAINT rules_user_id_users_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX rules_disabled_index ON rules (disabled);

CREATE TABLE tracking_rules (
    id      SERIAL NOT NULL,
    rule_id INTEGER NOT NULL,
    name    VARCHAR(255) NOT NULL,
    params  JSON,
    CONSTRAINT tracking_rules_pkey PRIMARY KEY (id),
    CONSTRAINT tracking_rules_rule_id_key UNIQUE (rule_id),
    CONSTRAINT tracking_rules_rule_id_rules_fkey FOREIGN KEY (rule_id) REFERENCES rules (id)
);

CREATE TABLE generation_rules (
    id      SERIAL NOT NULL,
    rule_id INTEGER NOT NULL,
    CONSTRAINT generation_rules_pkey PRIMARY KEY (id),
    CONSTRAINT generation_rules_rule_id_rules_fkey FOREIGN KEY (rule_id) REFERENCES rules (id) ON DELETE CASCADE
);

CREATE TABLE filters (
    id                 SERIAL NOT NULL,
    generation_rule_id INTEGER NOT NULL,
    name               VARCHAR(255) NOT NULL,
    params             JSON,
    CONSTRAINT filters_pkey PRIMARY KEY (id),
    CONSTRAINT filters_generation_rule_id_generation_rules_fkey FOREIGN KEY (generation_rule_id)
        REFERENCES generation_rules (id) ON DELETE CASCADE
);

CREATE TABLE destinations (
    id                 SERIAL NOT NULL,
    generation_rule_id INTEGER NOT NULL,
    protocol           VARCHAR(255) NOT NULL,
    address            TEXT NOT NULL,
    CONSTRAINT destinations_pkey PRIMARY KEY (id),
    CONSTRAINT destinations_generation_rule_id_generation_rules_fkey FOREIGN KEY (generation_rule_id)
        REFERENCES generation_rules (id) ON DELETE CASCADE
);

CREATE TABLE generated (
    id      SERIAL NOT NULL,
    rule_id INTEGER NOT NULL,
    "when"  TIMESTAMP WITHOUT TIME ZONE DEFAULT now() NOT NULL,
    count   INTEGER,
    CONSTRAINT generated_pkey PRIMARY KEY (id),
    CONSTRAINT generated_rule_id_rules_fkey FOREIGN KEY (rule_id) REFERENCES rules (id) ON DELETE CASCADE
);
CREATE INDEX generated_when_index ON generated ("when");

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO alembic_version (version_num) VALUES ('85ea1d6c9a3f');
