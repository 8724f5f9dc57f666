// Package fasjson is a client of FASJSON v1, the JSON API of the Fedora
// Account System: users (emails, chat nicks), their groups, group members
// and user search. It follows FASJSON's pagination and redirects, retries
// when the service is down, and tells "no such user" (ErrNotFound) from
// "cannot tell now" (ErrUnavailable).
package fasjson

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fmn-project/fmn/internal/restclient"
)

// ErrNotFound: FASJSON says the user or group does not exist.
var ErrNotFound = restclient.ErrNotFound

// ErrUnavailable: FASJSON could not be asked (network, timeout, 5xx).
var ErrUnavailable = restclient.ErrUnavailable

// Config of a Client. Zero fields take the defaults.
type Config struct {
	// URL is FASJSON's base URL, without /v1 (FMN_FASJSON_URL).
	URL string
	// Token, when set, is sent as a bearer token. Basic auth can be given
	// as credentials in URL. Production FASJSON wants Kerberos: plug a
	// SPNEGO RoundTripper into Transport instead.
	Token string
	// Transport makes the HTTP round trips (default http.DefaultTransport).
	Transport http.RoundTripper
	// Timeout bounds one HTTP attempt (default 10s).
	Timeout time.Duration
	// Attempts bounds the attempts of one call (default 3).
	Attempts int
	// Backoff before the second attempt, doubled after (default 200ms).
	Backoff time.Duration
	// PageSize asked for paginated lists (default 100).
	PageSize int
}

// Client calls FASJSON. It is safe for concurrent use.
type Client struct {
	rc       *restclient.Client
	pageSize int
}

// New returns a client of the FASJSON at cfg.URL.
func New(cfg Config) (*Client, error) {
	rcfg := restclient.Config{
		Service: "FASJSON", BaseURL: cfg.URL, Transport: cfg.Transport,
		Timeout: cfg.Timeout, Attempts: cfg.Attempts, Backoff: cfg.Backoff,
	}
	if cfg.Token != "" {
		rcfg.Auth = restclient.Bearer(cfg.Token)
	}
	rc, err := restclient.New(rcfg)
	if err != nil {
		return nil, fmt.Errorf("FMN_FASJSON_URL: %w", err)
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 100
	}
	return &Client{rc: rc, pageSize: cfg.PageSize}, nil
}

// User is an account as FASJSON describes it. Only the fields fmn reads
// are decoded; Raw keeps the whole record for the API's user info.
type User struct {
	Username  string   `json:"username"`
	HumanName string   `json:"human_name"`
	GivenName string   `json:"givenname"`
	Surname   string   `json:"surname"`
	Emails    []string `json:"emails"`
	// IRCNicks are chat addresses as URLs: irc:/nick, matrix:/user,
	// matrix://server/user (and, in old records, a bare nick).
	IRCNicks  []string `json:"ircnicks"`
	Locale    string   `json:"locale"`
	Timezone  string   `json:"timezone"`
	IsPrivate bool     `json:"is_private"`
	Locked    bool     `json:"locked"`
	// Raw is the record as FASJSON sent it.
	Raw json.RawMessage `json:"-"`
}

// DecodeUser decodes a FASJSON user record, keeping it in Raw.
func DecodeUser(raw json.RawMessage) (User, error) {
	var u User
	if err := json.Unmarshal(raw, &u); err != nil {
		return User{}, err
	}
	u.Raw = raw
	return u, nil
}

// User returns the account name. ErrNotFound when there is none.
func (c *Client) User(ctx context.Context, name string) (User, error) {
	if err := checkName(name); err != nil {
		return User{}, err
	}
	var env struct {
		Result json.RawMessage `json:"result"`
	}
	if err := c.rc.GetJSON(ctx, "/v1/users/"+url.PathEscape(name)+"/", nil, &env); err != nil {
		return User{}, fmt.Errorf("user %q: %w", name, err)
	}
	if len(env.Result) == 0 || string(env.Result) == "null" {
		return User{}, fmt.Errorf("user %q: FASJSON answered without a result", name)
	}
	u, err := DecodeUser(env.Result)
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", name, err)
	}
	return u, nil
}

// UserGroups returns the names of the groups user is a member of.
func (c *Client) UserGroups(ctx context.Context, name string) ([]string, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	var out []string
	err := paginate(ctx, c, "/v1/users/"+url.PathEscape(name)+"/groups/", nil, 0, func(items []struct {
		Groupname string `json:"groupname"`
	}) {
		for _, g := range items {
			out = append(out, g.Groupname)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("groups of user %q: %w", name, err)
	}
	return out, nil
}

// GroupMembers returns the usernames of group's members.
func (c *Client) GroupMembers(ctx context.Context, group string) ([]string, error) {
	if err := checkName(group); err != nil {
		return nil, err
	}
	var out []string
	err := paginate(ctx, c, "/v1/groups/"+url.PathEscape(group)+"/members/", nil, 0, func(items []struct {
		Username string `json:"username"`
	}) {
		for _, u := range items {
			out = append(out, u.Username)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("members of group %q: %w", group, err)
	}
	return out, nil
}

// SearchUsers returns at most limit users whose username contains
// username (FASJSON's username filter), or equals it when exact.
func (c *Client) SearchUsers(ctx context.Context, username string, exact bool, limit int) ([]User, error) {
	if username == "" {
		return nil, nil
	}
	q := url.Values{}
	if exact {
		q.Set("username__exact", username)
	} else {
		q.Set("username", username)
	}
	out, err := c.search(ctx, q, limit)
	if err != nil {
		return nil, fmt.Errorf("search users %q: %w", username, err)
	}
	return out, nil
}

// SearchChatNicks returns at most limit users one of whose chat nicks
// (ircnicks URLs) contains term (FASJSON's ircnick filter, which wants 3
// characters or more). The caller checks which nick matched.
func (c *Client) SearchChatNicks(ctx context.Context, term string, limit int) ([]User, error) {
	if term == "" {
		return nil, nil
	}
	out, err := c.search(ctx, url.Values{"ircnick": {term}}, limit)
	if err != nil {
		return nil, fmt.Errorf("search users by chat nick %q: %w", term, err)
	}
	return out, nil
}

// maxSearchPage is the largest page FASJSON's search accepts.
const maxSearchPage = 40

// search pages through /v1/search/users/ with the filter q.
func (c *Client) search(ctx context.Context, q url.Values, limit int) ([]User, error) {
	var out []User
	err := paginate(ctx, c, "/v1/search/users/", q, limit, func(items []json.RawMessage) {
		for _, raw := range items {
			if u, err := DecodeUser(raw); err == nil {
				out = append(out, u)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// maxPages stops a runaway pagination (a service that always says "more").
const maxPages = 1000

// page is FASJSON's pagination block.
type page struct {
	TotalResults int `json:"total_results"`
	PageSize     int `json:"page_size"`
	PageNumber   int `json:"page_number"`
	TotalPages   int `json:"total_pages"`
}

// paginate GETs every page of a list (until limit items when limit > 0)
// and hands each page's result to fn.
func paginate[T any](ctx context.Context, c *Client, path string, q url.Values, limit int, fn func([]T)) error {
	if q == nil {
		q = url.Values{}
	}
	size := c.pageSize
	if limit > 0 && limit < size {
		size = limit
	}
	if strings.HasPrefix(path, "/v1/search/") {
		// FASJSON refuses larger pages when searching.
		size = min(size, maxSearchPage)
	}
	q.Set("page_size", strconv.Itoa(size))
	seen := 0
	for n := 1; n <= maxPages; n++ {
		q.Set("page_number", strconv.Itoa(n))
		var env struct {
			Result []T   `json:"result"`
			Page   *page `json:"page"`
		}
		if err := c.rc.GetJSON(ctx, path, q, &env); err != nil {
			return err
		}
		fn(env.Result)
		seen += len(env.Result)
		if env.Page == nil || env.Page.PageNumber >= env.Page.TotalPages || len(env.Result) == 0 {
			return nil
		}
		if limit > 0 && seen >= limit {
			return nil
		}
	}
	return fmt.Errorf("more than %d pages", maxPages)
}

// checkName refuses names that cannot be an account or a group (and that
// would change the path asked).
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case name == "." || name == ".." || strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%q: %w", name, ErrNotFound)
	}
	return nil
}
