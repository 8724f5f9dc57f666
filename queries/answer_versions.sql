-- name: UserRulesVersionBump :exec
-- UserRulesVersionBump gives each named user a fresh rules_version (the
-- rule projector, for the users of the events it applies), in name order.
INSERT INTO user_rules_version (username, version)
SELECT t.name, nextval('answer_version')
FROM (SELECT DISTINCT unnest(@names::text[]) AS name ORDER BY 1) AS t
ON CONFLICT (username) DO UPDATE SET version = EXCLUDED.version;

-- name: UserRulesVersionBumpRules :exec
-- UserRulesVersionBumpRules gives the owners of the given rules a fresh
-- rules_version (the rule projector, for a switch of a rule, which names
-- the rule, not its owner), in name order.
INSERT INTO user_rules_version (username, version)
SELECT t.username, nextval('answer_version')
FROM (
    SELECT DISTINCT r.username FROM rules r WHERE r.id = ANY(@rule_ids::bigint[]) ORDER BY 1
) AS t
ON CONFLICT (username) DO UPDATE SET version = EXCLUDED.version;

-- name: UserRulesVersionDeleteAll :exec
DELETE FROM user_rules_version;

-- name: UserGeneratedVersionBumpRules :exec
-- UserGeneratedVersionBumpRules gives the owners of the given rules a
-- fresh generated_version (the statistics projector, for the rules whose
-- counts it changes), in name order. A rule no longer there is in no
-- user's answer.
INSERT INTO user_generated_version (username, version)
SELECT t.username, nextval('answer_version')
FROM (
    SELECT DISTINCT r.username FROM rules r WHERE r.id = ANY(@rule_ids::bigint[]) ORDER BY 1
) AS t
ON CONFLICT (username) DO UPDATE SET version = EXCLUDED.version;

-- name: UserGeneratedVersionBumpAll :exec
-- UserGeneratedVersionBumpAll gives every user a fresh generated_version
-- (a rebuild or an import of the counts).
INSERT INTO user_generated_version (username, version)
SELECT name, nextval('answer_version') FROM users ORDER BY name
ON CONFLICT (username) DO UPDATE SET version = EXCLUDED.version;

-- name: UserAnswerVersions :one
-- UserAnswerVersions is what a cached answer of RuleListByUser is checked
-- against: the user's two versions (0 where the user has none).
SELECT
    coalesce((SELECT rv.version FROM user_rules_version rv WHERE rv.username = @username), 0)::bigint AS rules_version,
    coalesce((SELECT gv.version FROM user_generated_version gv WHERE gv.username = @username), 0)::bigint AS generated_version;
