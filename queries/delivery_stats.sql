-- name: DeliveryStatsAddMany :exec
-- DeliveryStatsAddMany adds counts of (channel, result, hour) for a batch
-- of delivery outcome events.
INSERT INTO delivery_stats (channel, result, bucket, count)
SELECT t.channel, t.result, date_trunc('hour', t.at, 'UTC'), sum(t.n)::bigint
FROM (
    SELECT unnest(@channels::text[]) AS channel,
           unnest(@results::text[]) AS result,
           unnest(@buckets::timestamptz[]) AS at,
           unnest(@counts::bigint[]) AS n
) AS t
GROUP BY 1, 2, 3
ON CONFLICT (channel, result, bucket) DO UPDATE SET count = delivery_stats.count + EXCLUDED.count;

-- name: DeliveryStatsByChannel :many
-- DeliveryStatsByChannel sums the attempts over [since, until) per channel
-- and result.
SELECT channel, result, sum(count)::bigint AS total
FROM delivery_stats
WHERE bucket >= @since AND bucket < @until
GROUP BY channel, result
ORDER BY channel, result;

-- name: DeliveryStatsHourly :many
-- DeliveryStatsHourly sums the attempts per hour and result over
-- [since, until); an empty channel sums every channel.
SELECT bucket, result, sum(count)::bigint AS total
FROM delivery_stats
WHERE bucket >= @since AND bucket < @until
  AND (@channel::text = '' OR channel = @channel::text)
GROUP BY bucket, result
ORDER BY bucket, result;

-- name: DeliveryStatsDeleteBefore :execrows
-- DeliveryStatsDeleteBefore drops buckets older than before (retention).
DELETE FROM delivery_stats WHERE bucket < @before;

-- name: DeliveryStatsDeleteFrom :exec
-- DeliveryStatsDeleteFrom drops buckets from a time on (rebuild).
DELETE FROM delivery_stats WHERE bucket >= @since;
