// Package devfas is a stand-in for FASJSON v1 that speaks its documented
// JSON. Tests run it (fmntest.StartFASJSON) and so does `fmn dev`, which
// serves its development users' accounts from it when FMN_FASJSON_URL is
// empty.
package devfas

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Server speaks FASJSON v1's documented JSON: user
// records, a user's groups, a group's members and user search, paginated
// with page_size/page_number and a "page" block, 404 with FASJSON's error
// body, and the redirect FASJSON (Flask) sends for a path without its
// trailing slash. Paths under /moved/ are redirected (301) to the same
// path without the prefix, to test a relocated service.
type Server struct {
	URL string
	// MaxPageSize caps page_size (default 2, so that lists paginate).
	MaxPageSize int
	// Auth, when set, is the Authorization header every request must
	// carry; others get 401.
	Auth string

	mu       sync.Mutex
	users    map[string]map[string]any
	members  map[string][]string // group → usernames
	fail     int
	calls    map[string]int
	total    int
	authSeen []string
}

// New returns a server with no accounts; serve it with net/http and set
// URL to where it listens.
func New() *Server {
	return &Server{MaxPageSize: 2, users: map[string]map[string]any{}, members: map[string][]string{}, calls: map[string]int{}}
}

// ServeHTTP answers FASJSON v1 requests.
func (f *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.serve(w, r) }

// AddUser creates or replaces an account with these emails and chat nicks
// (ircnicks URLs).
func (f *Server) AddUser(name string, emails, ircnicks []string) {
	f.SetUser(name, map[string]any{
		"username": name, "human_name": strings.ToUpper(name[:1]) + name[1:] + " Tester",
		"givenname": name, "surname": "Tester",
		"emails": emails, "ircnicks": ircnicks,
		"locale": "en-US", "timezone": "UTC", "is_private": false, "locked": false,
		"gpgkeyids": nil, "creation": "2020-01-01T00:00:00", "uri": f.URL + "/v1/users/" + name + "/",
	})
}

// SetUser creates or replaces an account with the given record.
func (f *Server) SetUser(name string, rec map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[name] = rec
}

// AddMember makes user a member of group (creating the group).
func (f *Server) AddMember(group, user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.members[group], user) {
		f.members[group] = append(f.members[group], user)
	}
}

// Fail makes every request answer status (0: answer normally again).
func (f *Server) Fail(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = status
}

// Calls is the number of requests served, redirects included.
func (f *Server) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

// CallsTo is the number of requests whose path started with prefix.
func (f *Server) CallsTo(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for p, c := range f.calls {
		if strings.HasPrefix(p, prefix) {
			n += c
		}
	}
	return n
}

// AuthSeen lists the Authorization headers received, in order.
func (f *Server) AuthSeen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.authSeen)
}

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total++
	f.calls[r.URL.Path]++
	f.authSeen = append(f.authSeen, r.Header.Get("Authorization"))
	if rest, ok := strings.CutPrefix(r.URL.Path, "/moved/"); ok {
		u := *r.URL
		u.Path = "/" + rest
		u.RawPath = ""
		http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
		return
	}
	if f.fail != 0 {
		writeJSON(w, f.fail, map[string]any{"code": f.fail, "message": "the test made FASJSON fail"})
		return
	}
	if f.Auth != "" && r.Header.Get("Authorization") != f.Auth {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 401, "message": "Unauthorized"})
		return
	}
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"code": 405, "message": "Method Not Allowed"})
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	// Flask's strict slashes: /v1/users/alice → /v1/users/alice/.
	if !strings.HasSuffix(r.URL.Path, "/") && len(parts) >= 2 && parts[0] == "v1" {
		u := *r.URL
		u.Path += "/"
		u.RawPath = ""
		http.Redirect(w, r, u.String(), http.StatusPermanentRedirect)
		return
	}
	if len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	notFound := func(what string) {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "message": what + " does not exist", "name": "Not Found"})
	}
	switch {
	case len(parts) == 3 && parts[0] == "v1" && parts[1] == "users":
		rec, ok := f.users[parts[2]]
		if !ok {
			notFound("User")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"result": rec})
	case len(parts) == 4 && parts[0] == "v1" && parts[1] == "users" && parts[3] == "groups":
		if _, ok := f.users[parts[2]]; !ok {
			notFound("User")
			return
		}
		var items []any
		for _, g := range sortedKeys(f.members) {
			if slices.Contains(f.members[g], parts[2]) {
				items = append(items, map[string]any{"groupname": g, "uri": f.URL + "/v1/groups/" + g + "/"})
			}
		}
		f.page(w, r, items)
	case len(parts) == 4 && parts[0] == "v1" && parts[1] == "groups" && parts[3] == "members":
		ms, ok := f.members[parts[2]]
		if !ok {
			notFound("Group")
			return
		}
		var items []any
		for _, m := range ms {
			items = append(items, map[string]any{"username": m, "uri": f.URL + "/v1/users/" + m + "/"})
		}
		f.page(w, r, items)
	case len(parts) == 3 && parts[0] == "v1" && parts[1] == "search" && parts[2] == "users":
		q := r.URL.Query()
		if size, _ := strconv.Atoi(q.Get("page_size")); size > 40 {
			writeJSON(w, http.StatusBadRequest, map[string]any{"code": 400, "message": "Page size must be between 1 and 40 when searching."})
			return
		}
		var items []any
		for _, name := range sortedKeys(f.users) {
			if e := q.Get("username__exact"); e != "" && name == e {
				items = append(items, f.users[name])
			} else if s := q.Get("username"); s != "" && strings.Contains(name, s) {
				items = append(items, f.users[name])
			} else if s := q.Get("ircnick"); s != "" && hasNickLike(f.users[name], s) {
				items = append(items, f.users[name])
			}
		}
		f.page(w, r, items)
	default:
		notFound("Resource")
	}
}

// page answers one page of items as FASJSON does.
func (f *Server) page(w http.ResponseWriter, r *http.Request, items []any) {
	size, _ := strconv.Atoi(r.URL.Query().Get("page_size"))
	if size <= 0 || size > f.MaxPageSize {
		size = f.MaxPageSize
	}
	num, _ := strconv.Atoi(r.URL.Query().Get("page_number"))
	if num <= 0 {
		num = 1
	}
	pages := (len(items) + size - 1) / size
	if pages == 0 {
		pages = 1
	}
	lo := min((num-1)*size, len(items))
	hi := min(lo+size, len(items))
	result := items[lo:hi]
	if result == nil {
		result = []any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"result": result,
		"page":   map[string]any{"total_results": len(items), "page_size": size, "page_number": num, "total_pages": pages},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// A write error means the client went away: nothing to do.
	_ = json.NewEncoder(w).Encode(v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// hasNickLike reports whether one of rec's ircnicks contains term, case
// insensitively, as FASJSON's LDAP substring filter does.
func hasNickLike(rec map[string]any, term string) bool {
	term = strings.ToLower(term)
	var nicks []string
	switch v := rec["ircnicks"].(type) {
	case []string:
		nicks = v
	case []any:
		for _, n := range v {
			if s, ok := n.(string); ok {
				nicks = append(nicks, s)
			}
		}
	}
	for _, n := range nicks {
		if strings.Contains(strings.ToLower(n), term) {
			return true
		}
	}
	return false
}
