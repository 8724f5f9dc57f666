-- name: RuleActivity :one
-- RuleActivity counts, from the rules projection, the users with at least
-- one enabled rule (active users), every user, and the enabled and
-- disabled rules.
SELECT
    (SELECT count(DISTINCT username) FROM rules WHERE NOT disabled)::bigint AS active_users,
    (SELECT count(*) FROM users)::bigint AS users,
    (SELECT count(*) FROM rules WHERE NOT disabled)::bigint AS enabled_rules,
    (SELECT count(*) FROM rules WHERE disabled)::bigint AS disabled_rules;
