-- name: GeneratedTopRules :many
-- GeneratedTopRules sums the notifications per rule over [since, until),
-- largest first, with the rule's name and owner while the rule exists.
SELECT g.rule_id, coalesce(r.name, '')::text AS name, coalesce(r.username, '')::text AS username,
       sum(g.count)::bigint AS total
FROM rule_generated g
LEFT JOIN rules r ON r.id = g.rule_id
WHERE g.bucket >= @since AND g.bucket < @until
GROUP BY g.rule_id, r.name, r.username
ORDER BY total DESC, g.rule_id
LIMIT @max_rows;

-- name: GeneratedRuleHourly :many
-- GeneratedRuleHourly is one rule's notifications per hour over
-- [since, until).
SELECT bucket, count
FROM rule_generated
WHERE rule_id = @rule_id AND bucket >= @since AND bucket < @until
ORDER BY bucket;

-- name: GeneratedDeleteFrom :exec
-- GeneratedDeleteFrom drops rule buckets from a time on (rebuild).
DELETE FROM rule_generated WHERE bucket >= @since;
