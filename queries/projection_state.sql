-- name: ProjectionInit :exec
-- ProjectionInit makes sure the projection has a row, so that it can be
-- locked with ProjectionGetForUpdate.
INSERT INTO projection_state (name, last_seq) VALUES ($1, 0)
ON CONFLICT (name) DO NOTHING;

-- name: ProjectionGet :one
SELECT last_seq FROM projection_state WHERE name = $1;

-- name: ProjectionGetForUpdate :one
-- ProjectionGetForUpdate serialises the writers of a projection: the
-- projector and a rebuild hold this row lock for the whole transaction.
SELECT last_seq FROM projection_state WHERE name = $1 FOR UPDATE;

-- name: ProjectionSet :execrows
-- ProjectionSet only moves a projection forward; it affects no row when
-- last_seq is not greater than the stored one.
INSERT INTO projection_state (name, last_seq) VALUES (@name, @last_seq)
ON CONFLICT (name) DO UPDATE SET last_seq = EXCLUDED.last_seq
WHERE projection_state.last_seq < EXCLUDED.last_seq;

-- name: ProjectionReset :exec
-- ProjectionReset starts a projection over, for a rebuild.
UPDATE projection_state SET last_seq = 0 WHERE name = $1;
