-- name: ProjectionGet :one
SELECT last_seq FROM projection_state WHERE name = $1;

-- name: ProjectionLock :one
-- ProjectionLock serialises the writers of a projection: the projector and
-- a rebuild hold this row lock for the whole transaction. It makes the row
-- when there is none and returns the position, in one round trip (the
-- update changes nothing but takes the lock; a writer that waited for it
-- reads the position the other committed).
INSERT INTO projection_state (name, last_seq) VALUES ($1, 0)
ON CONFLICT (name) DO UPDATE SET last_seq = projection_state.last_seq
RETURNING last_seq;

-- name: ProjectionClaim :exec
-- ProjectionClaim locks the projection's row if it stands at last_seq and
-- fails the transaction otherwise (see projection_claim in schema.sql).
SELECT projection_claim(@name, @last_seq);

-- name: ProjectionSet :execrows
-- ProjectionSet only moves a projection forward; it affects no row when
-- last_seq is not greater than the stored one.
INSERT INTO projection_state (name, last_seq) VALUES (@name, @last_seq)
ON CONFLICT (name) DO UPDATE SET last_seq = EXCLUDED.last_seq
WHERE projection_state.last_seq < EXCLUDED.last_seq;

-- name: ProjectionReset :exec
-- ProjectionReset starts a projection over, for a rebuild.
UPDATE projection_state SET last_seq = 0 WHERE name = $1;
