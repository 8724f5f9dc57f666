// Package distgit is a client of dist-git's Pagure API 0: who has which
// access to a project, which projects a user or a group has access to, and
// project search. It follows Pagure's pagination and redirects, retries
// when the service is down, and tells "no such project or group"
// (ErrNotFound) from "cannot tell now" (ErrUnavailable).
package distgit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fmn-project/fmn/internal/restclient"
	"github.com/fmn-project/fmn/rules"
)

// ErrNotFound: dist-git says the project or group does not exist.
var ErrNotFound = restclient.ErrNotFound

// ErrUnavailable: dist-git could not be asked (network, timeout, 5xx).
var ErrUnavailable = restclient.ErrUnavailable

// Access levels of Pagure, strongest first.
const (
	AccessOwner        = "owner"
	AccessAdmin        = "admin"
	AccessCommit       = "commit"
	AccessCollaborator = "collaborator"
	AccessTicket       = "ticket"
)

// UserOwnerLevels are the user access levels that make an artifact "owned"
// (artifacts-owned). Ticket access does not count.
var UserOwnerLevels = []string{AccessOwner, AccessAdmin, AccessCommit, AccessCollaborator}

// GroupOwnerLevels are the group access levels that make an artifact
// "owned" by the group (artifacts-group-owned). Ticket access does not
// count, and groups cannot be owners.
var GroupOwnerLevels = []string{AccessAdmin, AccessCommit, AccessCollaborator}

// Config of a Client. Zero fields take the defaults.
type Config struct {
	// URL is dist-git's base URL, without /api/0 (FMN_DISTGIT_URL).
	URL string
	// Token, when set, is sent as a Pagure API token ("Authorization:
	// token <t>"); reading public data needs none. Basic auth can be given
	// as credentials in URL.
	Token string
	// Transport makes the HTTP round trips (default http.DefaultTransport).
	Transport http.RoundTripper
	// Timeout bounds one HTTP attempt (default 10s).
	Timeout time.Duration
	// Attempts bounds the attempts of one call (default 3).
	Attempts int
	// Backoff before the second attempt, doubled after (default 200ms).
	Backoff time.Duration
	// PerPage asked for paginated lists (default 100, Pagure's maximum).
	PerPage int
}

// Client calls dist-git. It is safe for concurrent use.
type Client struct {
	rc      *restclient.Client
	perPage int
}

// pagureToken sends "Authorization: token <t>", Pagure's scheme.
type pagureToken string

func (t pagureToken) Apply(r *http.Request) { r.Header.Set("Authorization", "token "+string(t)) }
func (t pagureToken) String() string        { return "token <secret>" }

// New returns a client of the dist-git at cfg.URL.
func New(cfg Config) (*Client, error) {
	rcfg := restclient.Config{
		Service: "dist-git", BaseURL: cfg.URL, Transport: cfg.Transport,
		Timeout: cfg.Timeout, Attempts: cfg.Attempts, Backoff: cfg.Backoff,
	}
	if cfg.Token != "" {
		rcfg.Auth = pagureToken(cfg.Token)
	}
	rc, err := restclient.New(rcfg)
	if err != nil {
		return nil, fmt.Errorf("FMN_DISTGIT_URL: %w", err)
	}
	if cfg.PerPage <= 0 || cfg.PerPage > 100 {
		cfg.PerPage = 100
	}
	return &Client{rc: rc, perPage: cfg.PerPage}, nil
}

// Base is dist-git's base URL (without credentials): a project's full_url
// on this dist-git starts with Base()+"/".
func (c *Client) Base() string { return c.rc.Base() }

// Project is a dist-git project and who may do what on it.
type Project struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	FullName  string `json:"fullname"`
	FullURL   string `json:"full_url"`
	// AccessUsers and AccessGroups map an access level to names.
	AccessUsers  map[string][]string `json:"access_users"`
	AccessGroups map[string][]string `json:"access_groups"`
}

// Artifact is the project as fmn names it: rule type (rpms, containers,
// modules, flatpaks) and plain name. ok is false for a namespace fmn does
// not track.
func (p Project) Artifact() (a rules.Artifact, ok bool) {
	t, ok := ArtifactType(p.Namespace)
	return rules.Artifact{Type: t, Name: p.Name}, ok
}

// UserOwns reports whether user has one of UserOwnerLevels on p.
func (p Project) UserOwns(user string) bool {
	for _, l := range UserOwnerLevels {
		if slices.Contains(p.AccessUsers[l], user) {
			return true
		}
	}
	return false
}

// GroupOwns reports whether group has one of GroupOwnerLevels on p.
func (p Project) GroupOwns(group string) bool {
	for _, l := range GroupOwnerLevels {
		if slices.Contains(p.AccessGroups[l], group) {
			return true
		}
	}
	return false
}

// ArtifactType maps a dist-git namespace to fmn's artifact type. dist-git
// names its container namespace "container"; "containers" is accepted too.
func ArtifactType(namespace string) (string, bool) {
	switch namespace {
	case "rpms":
		return rules.ArtifactRPMs, true
	case "container", "containers":
		return rules.ArtifactContainers, true
	case "modules":
		return rules.ArtifactModules, true
	case "flatpaks":
		return rules.ArtifactFlatpaks, true
	}
	return "", false
}

// Project returns the project namespace/name. ErrNotFound when there is
// none.
func (c *Client) Project(ctx context.Context, namespace, name string) (Project, error) {
	if err := checkName(namespace); err != nil {
		return Project{}, err
	}
	if err := checkName(name); err != nil {
		return Project{}, err
	}
	var p Project
	if err := c.rc.GetJSON(ctx, "/api/0/"+url.PathEscape(namespace)+"/"+url.PathEscape(name), nil, &p); err != nil {
		return Project{}, fmt.Errorf("project %s/%s: %w", namespace, name, err)
	}
	return p, nil
}

// UserProjects returns the projects (not forks) user has access to, at
// any level and in every namespace; filter with Project.UserOwns.
func (c *Client) UserProjects(ctx context.Context, user string) ([]Project, error) {
	if err := checkName(user); err != nil {
		return nil, err
	}
	q := url.Values{"username": {user}, "fork": {"false"}}
	ps, err := c.projects(ctx, "/api/0/projects", q, 0)
	if err != nil {
		return nil, fmt.Errorf("projects of user %q: %w", user, err)
	}
	return ps, nil
}

// GroupProjects returns the projects group has access to, at any level;
// filter with Project.GroupOwns. ErrNotFound when there is no such group.
func (c *Client) GroupProjects(ctx context.Context, group string) ([]Project, error) {
	if err := checkName(group); err != nil {
		return nil, err
	}
	q := url.Values{"projects": {"1"}}
	ps, err := c.projects(ctx, "/api/0/group/"+url.PathEscape(group), q, 0)
	if err != nil {
		return nil, fmt.Errorf("projects of group %q: %w", group, err)
	}
	return ps, nil
}

// SearchProjects returns at most limit projects (not forks) whose name
// matches pattern, Pagure's glob ("*" for any text), in namespace when
// it is not empty. Only names and namespaces are filled in.
func (c *Client) SearchProjects(ctx context.Context, pattern, namespace string, limit int) ([]Project, error) {
	if pattern == "" {
		return nil, nil
	}
	q := url.Values{"pattern": {pattern}, "fork": {"false"}, "short": {"1"}}
	if namespace != "" {
		q.Set("namespace", namespace)
	}
	ps, err := c.projects(ctx, "/api/0/projects", q, limit)
	if err != nil {
		return nil, fmt.Errorf("search projects %q: %w", pattern, err)
	}
	if limit > 0 && len(ps) > limit {
		ps = ps[:limit]
	}
	return ps, nil
}

// maxPages stops a runaway pagination.
const maxPages = 1000

// projects GETs every page of a project list (until limit projects when
// limit > 0). Pages are asked by number rather than by following
// pagination.next, whose host is whatever Pagure believes its own is.
func (c *Client) projects(ctx context.Context, path string, q url.Values, limit int) ([]Project, error) {
	per := c.perPage
	if limit > 0 && limit < per {
		per = limit
	}
	q.Set("per_page", strconv.Itoa(per))
	var out []Project
	for n := 1; n <= maxPages; n++ {
		q.Set("page", strconv.Itoa(n))
		var env struct {
			Projects   []Project `json:"projects"`
			Pagination *struct {
				Page  int `json:"page"`
				Pages int `json:"pages"`
			} `json:"pagination"`
		}
		if err := c.rc.GetJSON(ctx, path, q, &env); err != nil {
			return nil, err
		}
		out = append(out, env.Projects...)
		if env.Pagination == nil || n >= env.Pagination.Pages || len(env.Projects) == 0 {
			return out, nil
		}
		if limit > 0 && len(out) >= limit {
			return out, nil
		}
	}
	return nil, fmt.Errorf("more than %d pages", maxPages)
}

func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case name == "." || name == ".." || strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%q: %w", name, ErrNotFound)
	}
	return nil
}
