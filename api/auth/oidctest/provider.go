// Package oidctest runs a real OpenID Connect provider on loopback for
// tests: devoidc's (the example OP of github.com/zitadel/oidc, served
// in-process) under two issuers, stopped when the test ends, with a login
// flow (authorization code with PKCE) that tests drive over HTTP like a
// browser.
package oidctest

import (
	"context"
	"testing"

	"github.com/fmn-project/fmn/devoidc"
)

// Client ids and secrets registered at every provider.
const (
	// ClientID is fmn's client: configure it as FMN_OIDC_CLIENT_ID, and
	// ClientSecret as FMN_OIDC_CLIENT_SECRET (token introspection).
	ClientID     = devoidc.ClientID
	ClientSecret = devoidc.ClientSecret
	// OtherClientID is another application of the same provider: its
	// tokens carry the wrong audience for fmn.
	OtherClientID     = devoidc.OtherClientID
	OtherClientSecret = devoidc.OtherClientSecret
	// RedirectURI is where the login flow ends.
	RedirectURI = devoidc.RedirectURI
	// Password of every user.
	Password = devoidc.Password
)

// User is an account of the provider.
type User = devoidc.User

// Tokens is the answer of the token endpoint.
type Tokens = devoidc.Tokens

// DefaultUsers are alice and bob (plain users), root (in the groups
// sysadmin-main and packager) and mallory (refused).
func DefaultUsers() []User { return devoidc.DefaultUsers() }

// Provider is a running OP. It serves the same keys and users under two
// issuers (Issuer and AltIssuer), so a token of the other issuer has a
// valid signature and only its issuer is wrong.
type Provider struct {
	*devoidc.Provider
}

// Start runs a provider with users on two loopback listeners until the
// test ends.
func Start(t testing.TB, users ...User) *Provider {
	t.Helper()
	p, err := devoidc.Start(devoidc.Config{Users: users, AltIssuer: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return &Provider{p}
}

// Login runs the authorization code flow at the main issuer for fmn's
// client, as a browser would: authorization request, login form, callback,
// then the code exchange.
func (p *Provider) Login(t testing.TB, username string) Tokens {
	t.Helper()
	tok, err := p.LoginAt(context.Background(), p.Issuer, ClientID, ClientSecret, username, Password)
	if err != nil {
		t.Fatalf("login as %s: %v", username, err)
	}
	return tok
}
