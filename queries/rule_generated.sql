-- name: GeneratedAdd :exec
-- GeneratedAdd counts n notifications of a rule in the hour (UTC) of at.
INSERT INTO rule_generated (rule_id, bucket, count)
VALUES (@rule_id, date_trunc('hour', @at::timestamptz, 'UTC'), @n)
ON CONFLICT (rule_id, bucket) DO UPDATE SET count = rule_generated.count + EXCLUDED.count;

-- name: GeneratedSince :many
-- GeneratedSince sums the notifications of the given rules from the hour
-- of since on; rules without any are left out.
SELECT rule_id, sum(count)::bigint AS total
FROM rule_generated
WHERE rule_id = ANY(@rule_ids::bigint[])
  AND bucket >= date_trunc('hour', @since::timestamptz, 'UTC')
GROUP BY rule_id
ORDER BY rule_id;

-- name: GeneratedDeleteBefore :execrows
-- GeneratedDeleteBefore drops buckets older than before (retention).
DELETE FROM rule_generated WHERE bucket < @before;

-- name: GeneratedAddMany :exec
-- GeneratedAddMany is GeneratedAdd for many (rule, time, n) at once, as the
-- statistics projector applies a batch; rows of one rule and hour add up.
INSERT INTO rule_generated (rule_id, bucket, count)
SELECT t.rule_id, date_trunc('hour', t.at, 'UTC'), sum(t.n)::bigint
FROM (
    SELECT unnest(@rule_ids::bigint[]) AS rule_id,
           unnest(@buckets::timestamptz[]) AS at,
           unnest(@counts::bigint[]) AS n
) AS t
GROUP BY 1, 2
ON CONFLICT (rule_id, bucket) DO UPDATE SET count = rule_generated.count + EXCLUDED.count;
