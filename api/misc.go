package api

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/streams"
	"github.com/nats-io/nats.go/jetstream"
)

// MiscHandlers serve the applications and artifacts lists.
type MiscHandlers struct{ s *Server }

type artifactsInput struct {
	Names  []string `query:"names,explode" maxItems:"20" doc:"Artifact names or parts of them (repeat the parameter, or separate with commas)." example:"firefox"`
	Users  []string `query:"users,explode" maxItems:"20" doc:"Artifacts these users own." example:"alice"`
	Groups []string `query:"groups,explode" maxItems:"20" doc:"Artifacts these groups own." example:"python-packagers-sig"`
}

type artifactsOutput struct{ Body []Artifact }

// Register adds the operations.
func (h *MiscHandlers) Register(api huma.API) {
	o := op("list-applications", http.MethodGet, "/applications", "Applications",
		"The applications fmn knows: those of the message schemas it has extractors for, and those seen on the "+
			"bus (the app token of the topics in BUS history), sorted case-insensitively. No login needed.", "misc")
	o.Security = authOptional
	huma.Register(api, o, h.applications)

	o = op("list-artifacts", http.MethodGet, "/artifacts", "Find artifacts",
		"Artifacts of dist-git by name, and those owned by users or groups, sorted by name and type. No login needed.", "misc")
	o.Security = authOptional
	huma.Register(api, o, h.artifacts)
}

func (h *MiscHandlers) applications(ctx context.Context, _ *struct{}) (*namesOutput, error) {
	apps := bus.KnownApplications()
	if h.s.apps != nil {
		seen, err := h.s.apps.seen(ctx)
		if err != nil {
			// The registry's list still helps; the bus part comes back
			// with the stream.
			h.s.log.WarnContext(ctx, "applications seen on the bus", slog.Any("error", err))
		}
		apps = append(apps, seen...)
	}
	return &namesOutput{Body: sortedApps(apps)}, nil
}

// sortedApps sorts case-insensitively and drops duplicates that differ
// only in case (the first spelling, the registry's, wins).
func sortedApps(apps []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, a := range apps {
		k := strings.ToLower(a)
		if a == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return out
}

func (h *MiscHandlers) artifacts(ctx context.Context, in *artifactsInput) (*artifactsOutput, error) {
	q := ArtifactQuery{Names: trimList(in.Names), Users: trimList(in.Users), Groups: trimList(in.Groups)}
	if len(q.Names)+len(q.Users)+len(q.Groups) == 0 {
		return &artifactsOutput{Body: []Artifact{}}, nil
	}
	if h.s.accounts == nil {
		return nil, errNoAccounts("Artifacts")
	}
	arts, err := h.s.accounts.Artifacts(ctx, q)
	if err != nil {
		return nil, h.s.accountsError(ctx, err, "Artifacts")
	}
	out := make([]Artifact, 0, len(arts))
	for _, a := range arts {
		out = append(out, Artifact{Name: a.Name, Type: a.Type})
	}
	slices.SortFunc(out, func(a, b Artifact) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Type, b.Type)
	})
	out = slices.Compact(out)
	return &artifactsOutput{Body: out}, nil
}

// appSet is the set of applications seen on the bus. It asks JetStream for
// the distinct subjects held by BUS (the stream keeps a subject index, so
// this costs no message reads) and takes each topic's app token, and keeps
// the answer for a while. Apps named only in message bodies (app_name) and
// not in topics are not listed; the registry's list covers the schemas fmn
// knows.
type appSet struct {
	js     jetstream.JetStream
	stream string
	ttl    time.Duration

	mu   sync.Mutex
	apps []string
	at   time.Time
}

func newAppSet(js jetstream.JetStream, stream string, ttl time.Duration) *appSet {
	return &appSet{js: js, stream: stream, ttl: ttl}
}

func (a *appSet) seen(ctx context.Context) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.apps != nil && time.Since(a.at) < a.ttl {
		return a.apps, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := a.js.Stream(ctx, a.stream)
	if err != nil {
		return a.apps, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(streams.BusAll))
	if err != nil {
		return a.apps, err
	}
	set := map[string]bool{}
	for subj := range info.State.Subjects {
		if app := bus.TopicApp(strings.TrimPrefix(subj, streams.BusPrefix)); app != "" {
			set[app] = true
		}
	}
	apps := make([]string, 0, len(set))
	for app := range set {
		apps = append(apps, app)
	}
	a.apps, a.at = apps, time.Now()
	return apps, nil
}
