-- name: TombstoneListSince :many
-- TombstoneListSince lists the rules deleted after a version.
SELECT rule_id FROM rule_tombstones WHERE version > $1 ORDER BY version;

-- name: TombstoneDeleteAll :exec
DELETE FROM rule_tombstones;

-- name: TombstoneListByIDs :many
-- TombstoneListByIDs says which of the given rule ids were deleted.
SELECT rule_id FROM rule_tombstones WHERE rule_id = ANY(@rule_ids::bigint[]) ORDER BY rule_id;
