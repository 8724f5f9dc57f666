-- name: UserEnsure :exec
INSERT INTO users (name, created_at, id) VALUES ($1, $2, $3)
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
