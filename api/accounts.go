package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/danielgtaylor/huma/v2"
	"github.com/fmn-project/fmn/rules"
)

// Accounts answers questions about people and artifacts: FASJSON and
// dist-git through the shared service cache. Implementations must be safe
// for concurrent use. A nil Accounts makes the endpoints that need it answer
// 503, and rule changes that add a destination refuse with 503 rather than
// accept an address nobody checked.
type Accounts interface {
	// User returns the account record (FASJSON's user object).
	User(ctx context.Context, username string) (map[string]any, error)
	// Groups returns the names of the user's groups.
	Groups(ctx context.Context, username string) ([]string, error)
	// Destinations returns the addresses offered to the user: their emails
	// and the irc:/matrix: nicks of their account (DESIGN.md).
	Destinations(ctx context.Context, username string) ([]rules.Destination, error)
	// SearchUsers returns usernames matching a search.
	SearchUsers(ctx context.Context, search string) ([]string, error)
	// Artifacts returns the artifacts whose names match one of names, and
	// those owned by one of users or groups, without duplicates.
	Artifacts(ctx context.Context, q ArtifactQuery) ([]rules.Artifact, error)
}

// ArtifactQuery selects artifacts for Accounts.Artifacts.
type ArtifactQuery struct {
	Names, Users, Groups []string
}

// ErrNoSuchAccount is what an Accounts returns (wrapped or as is) for a user
// or group the account service does not know (→ 404).
var ErrNoSuchAccount = errors.New("no such account")

// ErrAccountsNotConfigured is what an Accounts returns when the service
// that would answer is not configured (→ 503 saying so).
var ErrAccountsNotConfigured = errors.New("account service not configured")

// accountsError maps an Accounts failure.
func (s *Server) accountsError(ctx context.Context, err error, what string) error {
	if errors.Is(err, ErrAccountsNotConfigured) {
		return errNoAccounts(what)
	}
	if errors.Is(err, ErrNoSuchAccount) {
		return huma.Error404NotFound(fmt.Sprintf("%s: the account service does not know it", what))
	}
	s.log.WarnContext(ctx, "account lookup failed", slog.String("what", what), slog.Any("error", err))
	return unavailable(fmt.Sprintf("%s: the account service is unavailable: try again later.", what))
}

// errNoAccounts is the answer when no account service is configured.
func errNoAccounts(what string) error {
	return unavailable(what + ": account lookups (FASJSON, dist-git) are not configured on this server (FMN_FASJSON_URL, FMN_DISTGIT_URL).")
}
