package queries

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// NewPool opens a pool on url whose connections read json and jsonb
// columns into json.RawMessage by copying them. pgx otherwise passes them
// through encoding/json, which checks and copies text PostgreSQL has
// already checked: on GET /users/{u}/rules that was a tenth of the bytes
// allocated. Other targets are decoded by encoding/json as before.
func NewPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		m := c.TypeMap()
		m.RegisterType(&pgtype.Type{Name: "json", OID: pgtype.JSONOID,
			Codec: &pgtype.JSONCodec{Marshal: json.Marshal, Unmarshal: unmarshalJSON}})
		m.RegisterType(&pgtype.Type{Name: "jsonb", OID: pgtype.JSONBOID,
			Codec: &pgtype.JSONBCodec{Marshal: json.Marshal, Unmarshal: unmarshalJSON}})
		return nil
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// unmarshalJSON copies data into a *json.RawMessage (data is pgx's read
// buffer, reused after the scan) and decodes it into anything else.
func unmarshalJSON(data []byte, v any) error {
	if raw, ok := v.(*json.RawMessage); ok {
		*raw = append(json.RawMessage(nil), data...)
		return nil
	}
	return json.Unmarshal(data, v)
}
