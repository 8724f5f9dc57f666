package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/fmn-project/fmn/api"
	"github.com/fmn-project/fmn/ui"
	"github.com/nats-io/nats.go"
)

// startAPI runs the api role: the REST API, the web UI, the live feed and
// the rule previews on FMN_HTTP_ADDR, with its own /metrics and
// /healthz/*. `fmn dev` without FMN_OIDC_ISSUER first starts its
// development login provider.
func startAPI(ctx context.Context, p *process) error {
	env, sys := p.env, p.sys
	if p.opts.Dev && env.Cfg.OIDCIssuer == "" {
		pr, err := startDevLogin(env, p.log)
		if err != nil {
			return err
		}
		sys.DevOIDC = pr
	}
	mux := http.NewServeMux()
	ops := &api.Ops{Registry: p.reg, Checks: []api.Check{
		{Name: "nats", Fn: func(context.Context) error {
			if env.NC.Status() != nats.CONNECTED {
				return fmt.Errorf("NATS connection is %s", env.NC.Status())
			}
			return nil
		}},
		{Name: "postgres", Fn: func(ctx context.Context) error { return env.DB.Ping(ctx) }},
		{Name: "redis", Fn: func(ctx context.Context) error {
			return sys.Redis.Do(ctx, sys.Redis.B().Ping().Build()).Error()
		}},
	}}
	// The REST API under /api/, which adds the rules projection to the
	// readiness checks.
	// The live feed pauses as the user's delivery settings say.
	settings := p.startDeliverySettings(ctx)
	if err := registerAPI(ctx, env, sys, p.reg, mux, ops, settings, p.run); err != nil {
		return err
	}
	ops.Register(mux)
	// The web UI answers every path no other handler claims (SPA fallback).
	mux.Handle("/", ui.Handler(ui.Config{
		OIDCIssuer: env.Cfg.OIDCIssuer, OIDCClientID: env.Cfg.OIDCClientID, OIDCScopes: env.Cfg.OIDCScopes,
		PublicURL: env.Cfg.PublicURL, SiteName: env.Cfg.SiteName,
	}))
	l, err := net.Listen("tcp", env.Cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("FMN_HTTP_ADDR: %w", err)
	}
	// IdleTimeout closes keep-alive connections that sit idle, so that
	// idle clients cannot hold connections (and their memory) forever; a
	// live stream is not idle (it writes a heartbeat).
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10,
		IdleTimeout: 2 * time.Minute}
	p.run("api", func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	sys.HTTPAddr = l.Addr().String()
	return nil
}
