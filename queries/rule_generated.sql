-- name: RuleGeneratedAddMany :exec
-- RuleGeneratedAddMany counts many (rule, time, n) at once, as the
-- statistics projector applies a batch, in the hour (UTC) of each time;
-- rows of one rule and hour add up.
INSERT INTO rule_generated (rule_id, bucket, count)
SELECT t.rule_id, date_trunc('hour', t.at, 'UTC'), sum(t.n)::bigint
FROM (
    SELECT unnest(@rule_ids::bigint[]) AS rule_id,
           unnest(@buckets::timestamptz[]) AS at,
           unnest(@counts::bigint[]) AS n
) AS t
GROUP BY 1, 2
ON CONFLICT (rule_id, bucket) DO UPDATE SET count = rule_generated.count + EXCLUDED.count;

-- name: RuleGeneratedSince :many
-- RuleGeneratedSince sums the notifications of the given rules from the
-- hour of since on; rules without any are left out.
SELECT rule_id, sum(count)::bigint AS total
FROM rule_generated
WHERE rule_id = ANY(@rule_ids::bigint[])
  AND bucket >= date_trunc('hour', @since::timestamptz, 'UTC')
GROUP BY rule_id
ORDER BY rule_id;

-- name: RuleGeneratedTop :many
-- RuleGeneratedTop sums the notifications per rule over [since, until),
-- largest first, with the rule's name and owner while the rule exists.
SELECT g.rule_id, coalesce(r.name, '')::text AS name, coalesce(r.username, '')::text AS username,
       sum(g.count)::bigint AS total
FROM rule_generated g
LEFT JOIN rules r ON r.id = g.rule_id
WHERE g.bucket >= @since AND g.bucket < @until
GROUP BY g.rule_id, r.name, r.username
ORDER BY total DESC, g.rule_id
LIMIT @max_rows;

-- name: RuleGeneratedHourly :many
-- RuleGeneratedHourly is one rule's notifications per hour over
-- [since, until).
SELECT bucket, count
FROM rule_generated
WHERE rule_id = @rule_id AND bucket >= @since AND bucket < @until
ORDER BY bucket;

-- name: RuleGeneratedDeleteBefore :execrows
-- RuleGeneratedDeleteBefore drops buckets older than before (retention).
DELETE FROM rule_generated WHERE bucket < @before;

-- name: RuleGeneratedDeleteFrom :exec
-- RuleGeneratedDeleteFrom drops buckets from a time on (rebuild).
DELETE FROM rule_generated WHERE bucket >= @since;

-- name: RuleGeneratedImport :exec
-- RuleGeneratedImport writes counts of another system's history (FMN v3's
-- generated table), one row per (rule, hour). Running it again with the
-- same counts changes nothing: a bucket keeps the larger of its count and
-- the imported one.
INSERT INTO rule_generated (rule_id, bucket, count)
SELECT t.rule_id, t.bucket, t.n
FROM (
    SELECT unnest(@rule_ids::bigint[]) AS rule_id,
           unnest(@buckets::timestamptz[]) AS bucket,
           unnest(@counts::bigint[]) AS n
) AS t
ON CONFLICT (rule_id, bucket) DO UPDATE SET count = GREATEST(rule_generated.count, EXCLUDED.count);
