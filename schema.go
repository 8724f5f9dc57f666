// Package fmn holds what belongs to the whole module: the database schema
// that sqlc reads and `fmn migrate` applies.
package fmn

import _ "embed"

// Schema is schema.sql. Its statements are idempotent.
//
//go:embed schema.sql
var Schema string
