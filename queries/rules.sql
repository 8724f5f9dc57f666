-- name: RuleGet :one
-- RuleGet is one rule with its owner's id and its notifications from the
-- hour of since on, in one round trip (as RuleGeneratedSince and UserIDs).
SELECT sqlc.embed(rules), u.id AS user_id, coalesce(g.total, 0)::bigint AS generated
FROM rules
LEFT JOIN users u ON u.name = rules.username
LEFT JOIN LATERAL (
  SELECT sum(count)::bigint AS total FROM rule_generated
  WHERE rule_id = rules.id AND bucket >= date_trunc('hour', @since::timestamptz, 'UTC')
) g ON true
WHERE rules.id = @rule_id;

-- name: RuleListByUser :many
-- RuleListByUser is a user's rules by id, each as RuleGet gives it: the
-- API's most frequent read, one round trip. Each row also carries the
-- user's answer versions (UserAnswerVersions), read in the same snapshot.
SELECT sqlc.embed(rules), u.id AS user_id, coalesce(g.total, 0)::bigint AS generated,
       coalesce((SELECT rv.version FROM user_rules_version rv WHERE rv.username = @username), 0)::bigint AS rules_version,
       coalesce((SELECT gv.version FROM user_generated_version gv WHERE gv.username = @username), 0)::bigint AS generated_version
FROM rules
LEFT JOIN users u ON u.name = rules.username
LEFT JOIN LATERAL (
  SELECT sum(count)::bigint AS total FROM rule_generated
  WHERE rule_id = rules.id AND bucket >= date_trunc('hour', @since::timestamptz, 'UTC')
) g ON true
WHERE rules.username = @username
ORDER BY rules.id;

-- name: RuleCountByUser :one
SELECT count(*) FROM rules WHERE username = $1;

-- name: RuleListChangedSince :many
-- RuleListChangedSince is what a consumer reloads: every rule whose last
-- event is newer than the version it holds. Ordered by version so that the
-- plan uses rules_version even as a generic prepared plan (ordering by id
-- made PostgreSQL walk the primary key over every rule: 25-45 ms at 100k).
SELECT * FROM rules WHERE version > $1 ORDER BY version;

-- name: RuleList :many
-- RuleList is the admin listing: the rules with an id above @after, by id,
-- at most max_rows (NULL: all); a NULL disabled matches both states. Its
-- plans, generic ones too, walk the primary key from @after.
SELECT * FROM rules
WHERE id > @after
  AND (sqlc.narg('disabled')::boolean IS NULL OR disabled = sqlc.narg('disabled'))
ORDER BY id
LIMIT sqlc.narg('max_rows');

-- name: RuleListOfUser :many
-- RuleListOfUser is RuleList for one user, through rules_username. (With an
-- optional username in RuleList, its generic plan walked the whole primary
-- key for a user's few rules: 20 ms at 100k rules.)
SELECT * FROM rules
WHERE username = @username
  AND id > @after
  AND (sqlc.narg('disabled')::boolean IS NULL OR disabled = sqlc.narg('disabled'))
ORDER BY id
LIMIT sqlc.narg('max_rows');

-- name: RuleCreate :exec
-- RuleCreate writes the rules of creation events (the projector gathers
-- them), each as its event states it; an id already there is overwritten,
-- its created_at kept. The ids must differ. An empty origin is NULL (a
-- rule a person made). updated_times are the times of the rules' last
-- change (the projector folds the updates of a rule it gathered into it).
INSERT INTO rules (
    id, username, name, disabled, tracking_name, tracking_params,
    generation_rules, version, created_at, updated_at, origin
)
SELECT t.id, t.username, t.name, t.disabled, t.tracking_name, t.tracking_params,
       t.generation_rules, t.version, t.at, t.updated, NULLIF(t.origin, '')
FROM (
    SELECT unnest(@ids::bigint[]) AS id,
           unnest(@usernames::text[]) AS username,
           unnest(@names::text[]) AS name,
           unnest(@disabled::boolean[]) AS disabled,
           unnest(@tracking_names::text[]) AS tracking_name,
           unnest(@tracking_params::jsonb[]) AS tracking_params,
           unnest(@generation_rules::jsonb[]) AS generation_rules,
           unnest(@versions::bigint[]) AS version,
           unnest(@times::timestamptz[]) AS at,
           unnest(@updated_times::timestamptz[]) AS updated,
           unnest(@origins::text[]) AS origin
) AS t
ORDER BY t.version
ON CONFLICT (id) DO UPDATE SET
    username         = EXCLUDED.username,
    name             = EXCLUDED.name,
    disabled         = EXCLUDED.disabled,
    tracking_name    = EXCLUDED.tracking_name,
    tracking_params  = EXCLUDED.tracking_params,
    generation_rules = EXCLUDED.generation_rules,
    version          = EXCLUDED.version,
    updated_at       = EXCLUDED.updated_at,
    origin           = EXCLUDED.origin;

-- name: RuleUpdate :exec
-- RuleUpdate applies an update event to an existing rule of the user.
UPDATE rules SET
    name             = @name,
    disabled         = @disabled,
    tracking_name    = @tracking_name,
    tracking_params  = @tracking_params,
    generation_rules = @generation_rules,
    version          = @version,
    updated_at       = @updated_at
WHERE id = @id AND username = @username;

-- name: RuleSetDisabled :exec
UPDATE rules SET disabled = @disabled, version = @version, updated_at = @updated_at
WHERE id = @id;

-- name: RuleDelete :exec
-- RuleDelete deletes a rule of the user and records its tombstone at
-- version, in one statement; it affects no row when the user has no such
-- rule.
WITH deleted AS (
    DELETE FROM rules WHERE id = @rule_id AND username = @username RETURNING id
)
INSERT INTO rule_tombstones (rule_id, version)
SELECT deleted.id, @version FROM deleted
ON CONFLICT (rule_id) DO UPDATE SET version = EXCLUDED.version;

-- name: RuleDeleteAll :exec
DELETE FROM rules;

-- name: RuleActivity :one
-- RuleActivity counts the users with at least one enabled rule (active
-- users), every user (from users), and the enabled and disabled rules.
SELECT
    (SELECT count(DISTINCT username) FROM rules WHERE NOT disabled)::bigint AS active_users,
    (SELECT count(*) FROM users)::bigint AS users,
    (SELECT count(*) FROM rules WHERE NOT disabled)::bigint AS enabled_rules,
    (SELECT count(*) FROM rules WHERE disabled)::bigint AS disabled_rules;

-- name: RuleListByIDs :many
-- RuleListByIDs reads the rules of the given ids that exist (the FMN v3
-- import checks which of its rules are there already).
SELECT * FROM rules WHERE id = ANY(@rule_ids::bigint[]) ORDER BY id;

-- name: RuleInsertImported :many
-- RuleInsertImported writes rules whose creation events name their ids
-- (rules imported from FMN v3), in event order, except those whose id a
-- rule has or had (a rule, a tombstone, or an earlier row of the same
-- call): it returns the ids it wrote.
INSERT INTO rules (
    id, username, name, disabled, tracking_name, tracking_params,
    generation_rules, version, created_at, updated_at
)
SELECT t.id, t.username, t.name, t.disabled, t.tracking_name, t.tracking_params,
       t.generation_rules, t.version, t.at, t.at
FROM (
    SELECT unnest(@ids::bigint[]) AS id,
           unnest(@usernames::text[]) AS username,
           unnest(@names::text[]) AS name,
           unnest(@disabled::boolean[]) AS disabled,
           unnest(@tracking_names::text[]) AS tracking_name,
           unnest(@tracking_params::jsonb[]) AS tracking_params,
           unnest(@generation_rules::jsonb[]) AS generation_rules,
           unnest(@versions::bigint[]) AS version,
           unnest(@times::timestamptz[]) AS at
) AS t
WHERE NOT EXISTS (SELECT 1 FROM rule_tombstones WHERE rule_id = t.id)
ORDER BY t.version
ON CONFLICT (id) DO NOTHING
RETURNING id;
