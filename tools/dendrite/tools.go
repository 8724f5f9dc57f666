//go:build tools

// Package tools records the Dendrite commands that scripts/matrix-peer.sh
// installs, so that `go mod tidy` in this module keeps their dependencies.
package tools

import (
	_ "github.com/element-hq/dendrite/cmd/create-account"
	_ "github.com/element-hq/dendrite/cmd/dendrite"
	_ "github.com/element-hq/dendrite/cmd/generate-config"
	_ "github.com/element-hq/dendrite/cmd/generate-keys"
)
