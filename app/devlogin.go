package app

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/fmn-project/fmn/devoidc"
)

// devLoginScopes are the web UI's scopes with `fmn dev`'s own provider:
// offline_access gets refresh tokens, so a session outlives the access
// token's few minutes.
const devLoginScopes = "openid profile email offline_access"

// startDevLogin runs the development login provider for `fmn dev` when
// FMN_OIDC_ISSUER is empty, and points the API and the UI at it: alice and
// bob, an admin root in the first admin group, and mallory, whom it
// refuses.
func startDevLogin(env *Env, log *slog.Logger) (*devoidc.Provider, error) {
	users := devoidc.DefaultUsers()
	if len(env.Cfg.AdminGroups) > 0 {
		for i := range users {
			if slices.Contains(users[i].Groups, "sysadmin-main") {
				users[i].Groups = []string{env.Cfg.AdminGroups[0], "packager"}
			}
		}
	}
	p, err := devoidc.Start(devoidc.Config{
		Users: users, JWTAccessTokens: true, PublicURL: env.Cfg.PublicURL, ShowUsers: true,
	})
	if err != nil {
		return nil, fmt.Errorf("development login provider: %w", err)
	}
	env.OnClose(func() { _ = p.Close() })
	env.Cfg.OIDCIssuer = p.Issuer
	if env.Cfg.OIDCClientID == "" {
		env.Cfg.OIDCClientID = devoidc.ClientID
	}
	// fmn's API introspects opaque access tokens with the provider's
	// secret of fmn's client (the web UI gets JWT access tokens).
	if env.Cfg.OIDCClientSecret == "" && env.Cfg.OIDCClientID == devoidc.ClientID {
		env.Cfg.OIDCClientSecret = devoidc.ClientSecret
	}
	if env.Cfg.OIDCScopes == "" {
		env.Cfg.OIDCScopes = devLoginScopes
	}
	log.Info("FMN_OIDC_ISSUER is empty: running a development login provider", "issuer", p.Issuer)
	return p, nil
}

// printDevLogin adds the development provider's users to the banner.
func printDevLogin(w io.Writer, p *devoidc.Provider, adminGroups []string) {
	var users []string
	for _, u := range p.Users() {
		switch {
		case u.Refused:
			users = append(users, u.Username+" (refused)")
		case slices.ContainsFunc(u.Groups, func(g string) bool { return slices.Contains(adminGroups, g) }):
			users = append(users, u.Username+" (admin)")
		default:
			users = append(users, u.Username)
		}
	}
	fmt.Fprintf(w, "  Login (dev OIDC): %s   users %s; password %s\n", p.Issuer, strings.Join(users, ", "), devoidc.Password)
}
