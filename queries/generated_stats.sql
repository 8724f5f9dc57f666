-- name: GeneratedStatsAddMany :exec
-- GeneratedStatsAddMany adds counts of (dimension, key, hour) for a batch
-- of notifications; rows of one dimension, key and hour add up.
INSERT INTO generated_stats (dimension, key, bucket, count)
SELECT t.dimension, t.key, date_trunc('hour', t.at, 'UTC'), sum(t.n)::bigint
FROM (
    SELECT unnest(@dimensions::text[]) AS dimension,
           unnest(@keys::text[]) AS key,
           unnest(@buckets::timestamptz[]) AS at,
           unnest(@counts::bigint[]) AS n
) AS t
GROUP BY 1, 2, 3
ON CONFLICT (dimension, key, bucket) DO UPDATE SET count = generated_stats.count + EXCLUDED.count;

-- name: GeneratedStatsTop :many
-- GeneratedStatsTop sums one dimension over [since, until) by key, largest
-- first.
SELECT key, sum(count)::bigint AS total
FROM generated_stats
WHERE dimension = @dimension AND bucket >= @since AND bucket < @until
GROUP BY key
ORDER BY total DESC, key
LIMIT @max_rows;

-- name: GeneratedStatsHourly :many
-- GeneratedStatsHourly sums one dimension per hour over [since, until);
-- an empty key sums every key.
SELECT bucket, sum(count)::bigint AS total
FROM generated_stats
WHERE dimension = @dimension AND bucket >= @since AND bucket < @until
  AND (@key::text = '' OR key = @key::text)
GROUP BY bucket
ORDER BY bucket;

-- name: GeneratedStatsDeleteBefore :execrows
-- GeneratedStatsDeleteBefore drops buckets older than before (retention).
DELETE FROM generated_stats WHERE bucket < @before;

-- name: GeneratedStatsDeleteFrom :exec
-- GeneratedStatsDeleteFrom drops buckets from a time on (rebuild).
DELETE FROM generated_stats WHERE bucket >= @since;
