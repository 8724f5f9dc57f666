-- name: UserEnsure :exec
-- UserEnsure records the users not recorded yet, in the given order (the
-- projector gathers them): a user keeps the first id given.
INSERT INTO users (name, created_at, id)
SELECT t.name, t.at, t.id
FROM (
    SELECT unnest(@names::text[]) AS name,
           unnest(@times::timestamptz[]) AS at,
           unnest(@ids::bigint[]) AS id,
           generate_subscripts(@names::text[], 1) AS i
) AS t
ORDER BY t.i
ON CONFLICT (name) DO NOTHING;

-- name: UserIDs :many
-- UserIDs gives the ids of the named users (FMN's User.id in a rule).
SELECT name, id FROM users WHERE name = ANY(@names::text[]);

-- name: UserGet :one
SELECT * FROM users WHERE name = $1;

-- name: UserSearch :many
-- UserSearch finds users whose name contains the pattern (case-insensitive),
-- for the user search of the API and the admin pages.
SELECT * FROM users
WHERE name ILIKE '%' || @pattern::text || '%'
ORDER BY name
LIMIT @max_rows;

-- name: UserDeleteAll :exec
DELETE FROM users;

-- name: UserListByNames :many
-- UserListByNames says which of the given users fmn knows.
SELECT name FROM users WHERE name = ANY(@names::text[]) ORDER BY name;
