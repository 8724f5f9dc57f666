package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/fmn-project/fmn/config"
	"github.com/fmn-project/fmn/consumer"
	"github.com/fmn-project/fmn/directory"
	"github.com/fmn-project/fmn/distgit"
	"github.com/fmn-project/fmn/fasjson"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/svccache"
	"github.com/redis/rueidis"
)

// NewDirectory builds the view of FASJSON and dist-git shared by the
// consumer and the API, on the process's Redis client, whose invalidation
// notices inv carries. It is nil when neither service is configured.
func NewDirectory(ctx context.Context, cfg config.Config, client rueidis.Client, inv *svccache.Invalidations, log *slog.Logger) (*directory.Directory, error) {
	if cfg.FASJSONURL == "" && cfg.DistGitURL == "" {
		return nil, nil
	}
	dcfg := directory.Config{
		Cache:         svccache.New(ctx, client, inv, svccache.Config{Prefix: cfg.RedisPrefix + "svc:"}),
		Invalidations: inv,
		Log:           log,
	}
	var errs []error
	if cfg.FASJSONURL != "" {
		c, err := fasjson.New(fasjson.Config{URL: cfg.FASJSONURL, Token: cfg.FASJSONToken})
		errs = append(errs, err)
		dcfg.FASJSON = c
	}
	if cfg.DistGitURL != "" {
		c, err := distgit.New(distgit.Config{URL: cfg.DistGitURL, Token: cfg.DistGitToken})
		errs = append(errs, err)
		dcfg.DistGit = c
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return directory.New(dcfg), nil
}

// lookups is dir as the matcher's rules.Lookups (a nil interface without
// it: ownership rules then never match).
func lookups(dir *directory.Directory) rules.Lookups {
	if dir == nil {
		return nil
	}
	return dir
}

// followOwnership makes the matcher keep ownership rules current with
// dist-git, warms the cache before the first Sync, and, with FASJSON,
// runs the owner checks that disable the rules of deleted accounts.
func followOwnership(ctx context.Context, env *Env, m *consumer.Matcher, dir *directory.Directory, run func(string, func(context.Context) error), log *slog.Logger) error {
	if dir == nil {
		return nil
	}
	m.FollowOwnership(ctx, dir)
	if err := m.WarmOwnership(ctx, 8); err != nil {
		log.Warn("cannot warm the ownership cache; rules will be indexed one lookup at a time", "err", err)
	}
	if env.Cfg.FASJSONURL == "" {
		return nil
	}
	cmds, err := rulelog.NewCommands(ctx, env.JS, env.DB, rulelog.CommandsConfig{Stream: env.Cfg.Streams.Rules, Logger: log})
	if err != nil {
		return err
	}
	env.OnClose(cmds.Close)
	run("owner-check", func(ctx context.Context) error {
		m.RunOwnerChecks(ctx, consumer.OwnerCheck{
			Exists: dir.UserExists,
			Disable: func(ctx context.Context, id int64) error {
				_, err := cmds.SetDisabled(ctx, id, true, rulelog.Meta{Actor: "fmn:owner-check"})
				// The event is stored: a lagging projection applies it
				// later, and a rule deleted meanwhile needs nothing.
				if errors.Is(err, rulelog.ErrProjectionLagging) || errors.Is(err, rulelog.ErrNotFound) {
					return nil
				}
				return err
			},
		})
		return nil
	})
	return nil
}
