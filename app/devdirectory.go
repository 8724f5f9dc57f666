package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/fmn-project/fmn/devfas"
	"github.com/fmn-project/fmn/devoidc"
)

// startDevDirectory serves, for `fmn dev` without FMN_FASJSON_URL and
// without FMN_OIDC_ISSUER, the accounts of the development login's users
// (alice@example.org, irc:/alice, matrix:/alice, …), so that they can pick
// their own destinations in the web UI at once. It returns the URL.
func startDevDirectory(env *Env, log *slog.Logger) (string, error) {
	f := devfas.New()
	f.MaxPageSize = 100
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("development account service: %w", err)
	}
	f.URL = "http://" + l.Addr().String()
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("development account service stopped", "err", err)
		}
	}()
	env.OnClose(func() { _ = srv.Close() })
	for _, u := range devoidc.DefaultUsers() {
		f.AddUser(u.Username, []string{u.Username + "@example.org"},
			[]string{"irc:/" + u.Username, "matrix:/" + u.Username})
		groups := u.Groups
		if len(env.Cfg.AdminGroups) > 0 && slices.Contains(groups, "sysadmin-main") {
			groups = []string{env.Cfg.AdminGroups[0], "packager"}
		}
		for _, g := range groups {
			f.AddMember(g, u.Username)
		}
	}
	log.Info("FMN_FASJSON_URL is empty: serving the development users' accounts", "url", f.URL)
	return f.URL, nil
}
