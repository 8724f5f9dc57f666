// Package directory answers fmn's questions about people and packages —
// who a user is and where they can be reached, which groups they are in,
// which dist-git artifacts a user or a group owns — from FASJSON and
// dist-git through the shared service cache, and keeps that cache true to
// the bus: messages about accounts, group memberships and project access
// delete exactly the entries they change.
//
// The consumer uses it as the rules.Lookups of artifacts-owned and
// artifacts-group-owned; the API uses it through Service.
package directory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/fmn-project/fmn/distgit"
	"github.com/fmn-project/fmn/fasjson"
	"github.com/fmn-project/fmn/internal/restclient"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/svccache"
)

// ErrNotFound: the account service says the user or group does not exist.
var ErrNotFound = restclient.ErrNotFound

// ErrUnavailable: FASJSON, dist-git or Redis cannot answer now; ask again
// later and conclude nothing.
var ErrUnavailable = restclient.ErrUnavailable

// ErrNotConfigured: the service that would answer is not configured
// (FMN_FASJSON_URL or FMN_DISTGIT_URL is empty).
var ErrNotConfigured = errors.New("service not configured")

// Service is what the API asks about people and packages. *Directory
// implements it.
type Service interface {
	rules.Lookups
	// User is the account record (GET /users/{u}/info: User.Raw).
	User(ctx context.Context, name string) (fasjson.User, error)
	// UserGroups are the groups user is a member of (GET /users/{u}/groups).
	UserGroups(ctx context.Context, name string) ([]string, error)
	// GroupMembers are the usernames of group's members.
	GroupMembers(ctx context.Context, group string) ([]string, error)
	// SearchUsers returns usernames containing query (GET /users?search=).
	SearchUsers(ctx context.Context, query string) ([]string, error)
	// Destinations are where user can be notified, from their account
	// (GET /users/{u}/destinations; a rule's destinations must be among
	// them).
	Destinations(ctx context.Context, name string) ([]rules.Destination, error)
	// SearchArtifacts answers GET /artifacts?names=&users=&groups=.
	SearchArtifacts(ctx context.Context, q ArtifactQuery) ([]rules.FollowedArtifact, error)
}

var _ Service = (*Directory)(nil)

// Config of a Directory. Zero durations take the defaults.
type Config struct {
	// FASJSON answers about accounts; nil: they fail with ErrNotConfigured.
	FASJSON *fasjson.Client
	// DistGit answers about ownership; nil: nobody owns anything.
	DistGit *distgit.Client
	// Cache holds the answers; Invalidations are its client's notices.
	Cache         *svccache.Cache
	Invalidations *svccache.Invalidations
	// AccountTTL bounds how long an account, its groups or a group's
	// members are cached without a bus message about them (default 1h).
	AccountTTL time.Duration
	// OwnershipTTL bounds how long a project's access and the artifacts a
	// user or group owns are cached without a bus message (default 1h).
	OwnershipTTL time.Duration
	// SearchTTL bounds searches, which no message invalidates (default 5m).
	SearchTTL time.Duration
	// NotFoundTTL bounds a cached "does not exist" (default 10m).
	NotFoundTTL time.Duration
	// SearchLimit bounds the results of a search (default 50).
	SearchLimit int
	Log         *slog.Logger
}

// Directory is fmn's view of FASJSON and dist-git, cached. It is safe for
// concurrent use.
type Directory struct {
	cfg         Config
	distgitBase string
	log         *slog.Logger

	users      *svccache.Kind[fasjson.User]
	userGroups *svccache.Kind[[]string]
	members    *svccache.Kind[[]string]
	userSearch *svccache.Kind[[]string]
	owned      *svccache.Kind[rules.ArtifactSet]
	groupOwned *svccache.Kind[rules.ArtifactSet]
	artSearch  *svccache.Kind[[]rules.FollowedArtifact]
}

// New returns a directory. cfg.Cache is required.
func New(cfg Config) *Directory {
	if cfg.AccountTTL <= 0 {
		cfg.AccountTTL = time.Hour
	}
	if cfg.OwnershipTTL <= 0 {
		cfg.OwnershipTTL = time.Hour
	}
	if cfg.SearchTTL <= 0 {
		cfg.SearchTTL = 5 * time.Minute
	}
	if cfg.NotFoundTTL <= 0 {
		cfg.NotFoundTTL = 10 * time.Minute
	}
	if cfg.SearchLimit <= 0 {
		cfg.SearchLimit = 50
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	d := &Directory{cfg: cfg, log: cfg.Log}
	if cfg.DistGit != nil {
		d.distgitBase = strings.TrimRight(cfg.DistGit.Base(), "/")
	}
	c := cfg.Cache
	fas, dg := cfg.FASJSON, cfg.DistGit
	d.users = svccache.NewKind(c, svccache.KindConfig[fasjson.User]{
		Name: "fas:user", TTL: cfg.AccountTTL, NotFoundTTL: cfg.NotFoundTTL, NotFound: fasjson.ErrNotFound,
		Fetch: func(ctx context.Context, name string) (fasjson.User, error) {
			if fas == nil {
				return fasjson.User{}, ErrNotConfigured
			}
			return fas.User(ctx, name)
		},
		Encode: func(u fasjson.User) ([]byte, error) { return u.Raw, nil },
		Decode: func(b []byte) (fasjson.User, error) { return fasjson.DecodeUser(b) },
	})
	d.userGroups = svccache.NewKind(c, svccache.KindConfig[[]string]{
		Name: "fas:groups", TTL: cfg.AccountTTL, NotFoundTTL: cfg.NotFoundTTL, NotFound: fasjson.ErrNotFound,
		Fetch: func(ctx context.Context, name string) ([]string, error) {
			if fas == nil {
				return nil, ErrNotConfigured
			}
			return fas.UserGroups(ctx, name)
		},
	})
	d.members = svccache.NewKind(c, svccache.KindConfig[[]string]{
		Name: "fas:members", TTL: cfg.AccountTTL, NotFoundTTL: cfg.NotFoundTTL, NotFound: fasjson.ErrNotFound,
		Fetch: func(ctx context.Context, group string) ([]string, error) {
			if fas == nil {
				return nil, ErrNotConfigured
			}
			return fas.GroupMembers(ctx, group)
		},
	})
	d.userSearch = svccache.NewKind(c, svccache.KindConfig[[]string]{
		Name: "fas:search", TTL: cfg.SearchTTL,
		Fetch: func(ctx context.Context, q string) ([]string, error) {
			if fas == nil {
				return nil, ErrNotConfigured
			}
			us, err := fas.SearchUsers(ctx, q, false, cfg.SearchLimit)
			if err != nil {
				return nil, err
			}
			names := make([]string, 0, len(us))
			for _, u := range us {
				names = append(names, u.Username)
			}
			return names, nil
		},
	})
	setCodec := func(set rules.ArtifactSet) ([]byte, error) { return encodeSet(set), nil }
	d.owned = svccache.NewKind(c, svccache.KindConfig[rules.ArtifactSet]{
		Name: "dg:user", TTL: cfg.OwnershipTTL, NotFoundTTL: cfg.NotFoundTTL, NotFound: distgit.ErrNotFound,
		Encode: setCodec, Decode: decodeSet,
		Fetch: func(ctx context.Context, user string) (rules.ArtifactSet, error) {
			if dg == nil {
				return rules.NewArtifactSet(), nil
			}
			ps, err := dg.UserProjects(ctx, user)
			if err != nil {
				return rules.ArtifactSet{}, err
			}
			return ownedSet(ps, func(p distgit.Project) bool { return p.UserOwns(user) }), nil
		},
	})
	d.groupOwned = svccache.NewKind(c, svccache.KindConfig[rules.ArtifactSet]{
		Name: "dg:group", TTL: cfg.OwnershipTTL, NotFoundTTL: cfg.NotFoundTTL, NotFound: distgit.ErrNotFound,
		Encode: setCodec, Decode: decodeSet,
		Fetch: func(ctx context.Context, group string) (rules.ArtifactSet, error) {
			if dg == nil {
				return rules.NewArtifactSet(), nil
			}
			ps, err := dg.GroupProjects(ctx, group)
			if err != nil {
				return rules.ArtifactSet{}, err
			}
			return ownedSet(ps, func(p distgit.Project) bool { return p.GroupOwns(group) }), nil
		},
	})
	d.artSearch = svccache.NewKind(c, svccache.KindConfig[[]rules.FollowedArtifact]{
		Name: "dg:search", TTL: cfg.SearchTTL,
		Fetch: func(ctx context.Context, pattern string) ([]rules.FollowedArtifact, error) {
			if dg == nil {
				return nil, ErrNotConfigured
			}
			ps, err := dg.SearchProjects(ctx, pattern, "", cfg.SearchLimit)
			if err != nil {
				return nil, err
			}
			out := []rules.FollowedArtifact{}
			for _, p := range ps {
				if a, ok := p.Artifact(); ok {
					out = append(out, rules.FollowedArtifact{Type: a.Type, Name: a.Name})
				}
			}
			return out, nil
		},
	})
	return d
}

// Stats are the service cache's counters.
func (d *Directory) Stats() svccache.Stats { return d.cfg.Cache.Stats() }

// OwnedArtifacts implements rules.Lookups: the artifacts on which user
// has owner, admin, commit or collaborator access in dist-git, directly
// (not through a group: that is artifacts-group-owned). Ticket access
// does not count.
func (d *Directory) OwnedArtifacts(ctx context.Context, user string) (rules.ArtifactSet, error) {
	set, err := d.owned.Get(ctx, user)
	// Without dist-git nobody owns anything: that is configuration, not an
	// outage, and must not hold up the matcher's other rules.
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotConfigured) {
		return rules.NewArtifactSet(), nil
	}
	return set, err
}

// GroupOwnedArtifacts implements rules.Lookups: the artifacts on which
// group has admin, commit or collaborator access. An unknown group owns
// nothing.
func (d *Directory) GroupOwnedArtifacts(ctx context.Context, group string) (rules.ArtifactSet, error) {
	set, err := d.groupOwned.Get(ctx, group)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotConfigured) {
		return rules.NewArtifactSet(), nil
	}
	return set, err
}

// User returns the account record of name.
func (d *Directory) User(ctx context.Context, name string) (fasjson.User, error) {
	return d.users.Get(ctx, name)
}

// UserGroups returns the groups user is a member of, sorted.
func (d *Directory) UserGroups(ctx context.Context, name string) ([]string, error) {
	gs, err := d.userGroups.Get(ctx, name)
	return sortedCopy(gs), err
}

// GroupMembers returns the usernames of group's members, sorted.
func (d *Directory) GroupMembers(ctx context.Context, group string) ([]string, error) {
	ms, err := d.members.Get(ctx, group)
	return sortedCopy(ms), err
}

// SearchUsers returns at most SearchLimit usernames containing query.
func (d *Directory) SearchUsers(ctx context.Context, query string) ([]string, error) {
	query = strings.TrimSpace(query)
	if query == "" {
		return []string{}, nil
	}
	if len(query) > maxQuery {
		query = query[:maxQuery]
	}
	names, err := d.userSearch.Get(ctx, query)
	return sortedCopy(names), err
}

// Destinations returns where user can be notified, from their account.
func (d *Directory) Destinations(ctx context.Context, name string) ([]rules.Destination, error) {
	u, err := d.users.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return Destinations(u), nil
}

// UserExists reports whether FASJSON knows name. A "no" from the cache is
// confirmed by FASJSON itself before it is believed, because the caller
// disables rules on it; an error (FASJSON or Redis down) decides nothing.
func (d *Directory) UserExists(ctx context.Context, name string) (bool, error) {
	if d.cfg.FASJSON == nil {
		return false, ErrNotConfigured
	}
	_, err := d.users.Get(ctx, name)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if _, err = d.users.Fetch(ctx, name); err == nil {
		// The cached "no" is stale: the account exists now.
		if ierr := d.users.Invalidate(ctx, name); ierr != nil {
			d.log.Warn("cannot drop a stale cached account", "user", name, "err", ierr)
		}
		return true, nil
	}
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return false, err
}

// maxQuery bounds a search's text (it becomes part of a Redis key).
const maxQuery = 100

// ArtifactQuery is GET /artifacts's query.
type ArtifactQuery struct {
	// Names are searched as substrings (or as Pagure globs when they hold
	// a "*") across the tracked namespaces.
	Names []string
	// Users and Groups add what they own.
	Users, Groups []string
}

// SearchArtifacts returns the artifacts matching q, without duplicates,
// sorted by type then name.
func (d *Directory) SearchArtifacts(ctx context.Context, q ArtifactQuery) ([]rules.FollowedArtifact, error) {
	seen := map[rules.FollowedArtifact]struct{}{}
	add := func(a rules.FollowedArtifact) { seen[a] = struct{}{} }
	for _, n := range q.Names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if len(n) > maxQuery {
			n = n[:maxQuery]
		}
		if !strings.Contains(n, "*") {
			n = "*" + n + "*"
		}
		found, err := d.artSearch.Get(ctx, n)
		if err != nil {
			return nil, err
		}
		for _, a := range found {
			add(a)
		}
	}
	for _, u := range q.Users {
		set, err := d.OwnedArtifacts(ctx, u)
		if err != nil {
			return nil, err
		}
		for a := range set.All() {
			add(rules.FollowedArtifact{Type: a.Type, Name: a.Name})
		}
	}
	for _, g := range q.Groups {
		set, err := d.GroupOwnedArtifacts(ctx, g)
		if err != nil {
			return nil, err
		}
		for a := range set.All() {
			add(rules.FollowedArtifact{Type: a.Type, Name: a.Name})
		}
	}
	out := make([]rules.FollowedArtifact, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b rules.FollowedArtifact) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// WatchOwners calls fn with the users and groups whose owned artifacts
// this process must consider changed: their cache entries were deleted
// (by a bus message handled here or in another process) or expired.
// all is true when the client's cache was flushed (reconnection): then
// everything may have changed. fn runs on the Redis client's reading
// goroutine and must not block.
func (d *Directory) WatchOwners(fn func(users, groups []string, all bool)) (stop func()) {
	if d.cfg.Invalidations == nil {
		return func() {}
	}
	return d.cfg.Invalidations.Subscribe(func(keys []string) {
		if keys == nil {
			fn(nil, nil, true)
			return
		}
		var users, groups []string
		for _, k := range keys {
			if u, ok := d.owned.ID(k); ok {
				users = append(users, u)
			} else if g, ok := d.groupOwned.ID(k); ok {
				groups = append(groups, g)
			}
		}
		if len(users)+len(groups) > 0 {
			fn(users, groups, false)
		}
	})
}

// Warm fills the cache with the artifacts owned by users and groups,
// parallel requests at a time, so that a cold start does not index rules
// one HTTP round trip after the other. Errors are left for the lookups
// that follow to report.
func (d *Directory) Warm(ctx context.Context, users, groups []string, parallel int) {
	if d.cfg.DistGit == nil {
		return
	}
	sem := make(chan struct{}, max(parallel, 1))
	done := make(chan struct{})
	n := 0
	run := func(f func()) {
		n++
		go func() {
			sem <- struct{}{}
			defer func() { <-sem; done <- struct{}{} }()
			f()
		}()
	}
	for _, u := range users {
		run(func() { _, _ = d.OwnedArtifacts(ctx, u) })
	}
	for _, g := range groups {
		run(func() { _, _ = d.GroupOwnedArtifacts(ctx, g) })
	}
	for range n {
		<-done
	}
}

// ownedSet is the set of tracked artifacts among ps that owns accepts.
func ownedSet(ps []distgit.Project, owns func(distgit.Project) bool) rules.ArtifactSet {
	arts := make([]rules.Artifact, 0, len(ps))
	for _, p := range ps {
		if a, ok := p.Artifact(); ok && owns(p) {
			arts = append(arts, a)
		}
	}
	return rules.NewArtifactSet(arts...)
}

// encodeSet stores a set as sorted "type/name" lines.
func encodeSet(set rules.ArtifactSet) []byte {
	lines := make([]string, 0, set.Len())
	for a := range set.All() {
		lines = append(lines, a.Type+"/"+a.Name)
	}
	slices.Sort(lines)
	return []byte(strings.Join(lines, "\n"))
}

func decodeSet(b []byte) (rules.ArtifactSet, error) {
	if len(b) == 0 {
		return rules.NewArtifactSet(), nil
	}
	lines := strings.Split(string(b), "\n")
	arts := make([]rules.Artifact, 0, len(lines))
	for _, l := range lines {
		t, n, ok := strings.Cut(l, "/")
		if !ok {
			return rules.ArtifactSet{}, fmt.Errorf("bad artifact %q", l)
		}
		arts = append(arts, rules.Artifact{Type: t, Name: n})
	}
	return rules.NewArtifactSet(arts...), nil
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return out
}
