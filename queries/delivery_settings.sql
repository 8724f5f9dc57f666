-- name: DeliverySettingsPut :exec
-- DeliverySettingsPut replaces a user's delivery settings (delivery.updated).
INSERT INTO delivery_settings (username, settings, version, updated_at)
VALUES (@username, @settings, @version, @updated_at)
ON CONFLICT (username) DO UPDATE
SET settings = EXCLUDED.settings, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at;

-- name: DeliverySettingsGet :one
SELECT * FROM delivery_settings WHERE username = $1;

-- name: DeliverySettingsList :many
-- DeliverySettingsList is every user's settings, for the senders' Source.
SELECT * FROM delivery_settings WHERE settings <> '[]'::jsonb ORDER BY username;

-- name: DeliverySettingsDeleteAll :exec
DELETE FROM delivery_settings;
