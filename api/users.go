package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

// UserHandlers serve the logged-in user and account lookups.
type UserHandlers struct{ s *Server }

type meOutput struct{ Body User }

type searchInput struct {
	Search string `query:"search" maxLength:"64" doc:"Part of a username; without it, the list holds only you." example:"ali"`
}

type namesOutput struct{ Body []string }

type infoOutput struct {
	Body map[string]any `doc:"The account record as the account service (FASJSON) has it."`
}

type destinationsOutput struct{ Body []Destination }

// Register adds the operations.
func (h *UserHandlers) Register(api huma.API) {
	huma.Register(api, op("get-me", http.MethodGet, "/users/me", "Who you are",
		"FMN's user object: your id, username and whether you are an admin. The first call records you as a user of fmn.", "users"), h.me)

	o := op("search-users", http.MethodGet, "/users", "Search usernames",
		"Usernames of the account service that contain the search; without a search, only yours.", "users")
	huma.Register(api, o, h.search)

	o = op("get-user-info", http.MethodGet, "/users/{username}/info", "A user's account record",
		"The account record of the account service. Yours, or anyone's for an admin.", "users")
	o.Errors = append(o.Errors, http.StatusForbidden, http.StatusNotFound)
	huma.Register(api, o, h.info)

	o = op("get-user-groups", http.MethodGet, "/users/{username}/groups", "A user's groups",
		"The names of the user's groups in the account service.", "users")
	o.Errors = append(o.Errors, http.StatusNotFound)
	huma.Register(api, o, h.groups)

	o = op("get-user-destinations", http.MethodGet, "/users/{username}/destinations", "A user's destinations",
		"The addresses a rule of the user may send to: the emails and chat nicks of their account, and their "+
			"live feed in the browser (protocol sse, address the username). Yours, or anyone's for an admin.", "users")
	o.Errors = append(o.Errors, http.StatusForbidden, http.StatusNotFound)
	huma.Register(api, o, h.destinations)
}

func (h *UserHandlers) me(ctx context.Context, _ *struct{}) (*meOutput, error) {
	id, ok := identity(ctx)
	if !ok {
		return nil, huma.Error401Unauthorized("Log in first.")
	}
	// The middleware recorded the user already unless that failed; then
	// this says so.
	if err := h.s.ensureUser(ctx, id.Username); err != nil && !errors.Is(err, rulelog.ErrProjectionLagging) {
		h.s.log.ErrorContext(ctx, "record user", slog.String("user", id.Username), slog.Any("error", err))
		return nil, unavailable("Cannot record you as a user right now: try again later.")
	}
	me := User{Name: id.Username, IsAdmin: id.Admin}
	// The id comes from the projection; a record still on its way (the
	// projection lagging) shows null until the next call.
	if u, err := h.s.store.User(ctx, id.Username); err == nil {
		me.ID = u.ID
	} else if !errors.Is(err, rulelog.ErrNotFound) {
		return nil, h.s.readError(ctx, err, "user")
	}
	return &meOutput{Body: me}, nil
}

func (h *UserHandlers) search(ctx context.Context, in *searchInput) (*namesOutput, error) {
	id, _ := identity(ctx)
	if in.Search == "" {
		return &namesOutput{Body: []string{id.Username}}, nil
	}
	if h.s.accounts == nil {
		return nil, errNoAccounts("User search")
	}
	names, err := h.s.accounts.SearchUsers(ctx, in.Search)
	if err != nil {
		return nil, h.s.accountsError(ctx, err, "User search")
	}
	return &namesOutput{Body: nonNil(names)}, nil
}

func (h *UserHandlers) info(ctx context.Context, in *userPath) (*infoOutput, error) {
	if err := mustBeSelfOrAdmin(ctx, in.Username, "account record"); err != nil {
		return nil, err
	}
	if h.s.accounts == nil {
		return nil, errNoAccounts("Account record")
	}
	rec, err := h.s.accounts.User(ctx, in.Username)
	if err != nil {
		return nil, h.s.accountsError(ctx, err, "User "+in.Username)
	}
	return &infoOutput{Body: rec}, nil
}

func (h *UserHandlers) groups(ctx context.Context, in *userPath) (*namesOutput, error) {
	if h.s.accounts == nil {
		return nil, errNoAccounts("Groups")
	}
	gs, err := h.s.accounts.Groups(ctx, in.Username)
	if err != nil {
		return nil, h.s.accountsError(ctx, err, "User "+in.Username)
	}
	return &namesOutput{Body: nonNil(gs)}, nil
}

func (h *UserHandlers) destinations(ctx context.Context, in *userPath) (*destinationsOutput, error) {
	if err := mustBeSelfOrAdmin(ctx, in.Username, "destinations"); err != nil {
		return nil, err
	}
	out, err := h.s.destinationsOf(ctx, in.Username)
	if err != nil {
		return nil, err
	}
	return &destinationsOutput{Body: out}, nil
}

// destinationsOf is a user's destinations: those of their account, and
// their live feed in the browser.
func (s *Server) destinationsOf(ctx context.Context, user string) ([]Destination, error) {
	if s.accounts == nil {
		return nil, errNoAccounts("Destinations")
	}
	ds, err := s.accounts.Destinations(ctx, user)
	if err != nil {
		return nil, s.accountsError(ctx, err, "User "+user)
	}
	out := make([]Destination, len(ds), len(ds)+1)
	for i, d := range ds {
		out[i] = Destination(d)
	}
	// Everyone has a live feed in the browser, at their own name.
	out = append(out, Destination{Protocol: rules.ProtocolSSE, Address: user})
	return out, nil
}
