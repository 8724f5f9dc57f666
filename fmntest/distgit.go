package fmntest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// DistGit is a test server that speaks dist-git's Pagure API 0 as
// documented: GET /api/0/<namespace>/<name> (access_users with owner,
// admin, commit, collaborator, ticket; access_groups; full_url), GET
// /api/0/projects with username, owner, namespace, pattern, fork, short,
// page and per_page, and GET /api/0/group/<name>?projects=1[&acl=…],
// paginated with a "pagination" block; 404 with Pagure's error body. Like
// Pagure, the username filter returns projects where the user has any
// access, ticket included. Paths under /moved/ are redirected (301) to
// the same path without the prefix.
type DistGit struct {
	URL string
	// MaxPerPage caps per_page (default 2, so that lists paginate).
	MaxPerPage int

	mu       sync.Mutex
	projects map[string]*fakeProject // "ns/name"
	groups   map[string]bool
	fail     int
	calls    map[string]int
	total    int
}

type fakeProject struct {
	ns, name string
	users    map[string][]string // level → users
	groups   map[string][]string // level → groups
}

// StartDistGit starts a dist-git test server for the test's duration.
func StartDistGit(t testing.TB) *DistGit {
	t.Helper()
	d := &DistGit{MaxPerPage: 2, projects: map[string]*fakeProject{}, groups: map[string]bool{}, calls: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(srv.Close)
	d.URL = srv.URL
	return d
}

func (d *DistGit) project(ns, name string) *fakeProject {
	p := d.projects[ns+"/"+name]
	if p == nil {
		p = &fakeProject{ns: ns, name: name, users: map[string][]string{}, groups: map[string][]string{}}
		d.projects[ns+"/"+name] = p
	}
	return p
}

// AddProject creates namespace/name with owner as its main owner.
func (d *DistGit) AddProject(ns, name, owner string) {
	d.SetUserAccess(ns, name, owner, "owner")
}

// SetUserAccess gives user the access level on namespace/name (creating
// the project), replacing any level the user had; "" removes the user.
func (d *DistGit) SetUserAccess(ns, name, user, level string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.project(ns, name)
	for l, us := range p.users {
		p.users[l] = slices.DeleteFunc(us, func(u string) bool { return u == user })
	}
	if level != "" {
		p.users[level] = append(p.users[level], user)
	}
}

// SetGroupAccess is SetUserAccess for a group (which it creates).
func (d *DistGit) SetGroupAccess(ns, name, group, level string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.groups[group] = true
	p := d.project(ns, name)
	for l, gs := range p.groups {
		p.groups[l] = slices.DeleteFunc(gs, func(g string) bool { return g == group })
	}
	if level != "" {
		p.groups[level] = append(p.groups[level], group)
	}
}

// AddGroup creates an empty group.
func (d *DistGit) AddGroup(group string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.groups[group] = true
}

// ProjectJSON is the project as the API and bus messages show it.
func (d *DistGit) ProjectJSON(ns, name string) map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.json(d.project(ns, name), false)
}

// Fail makes every request answer status (0: answer normally again).
func (d *DistGit) Fail(status int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail = status
}

// Calls is the number of requests served, redirects included.
func (d *DistGit) Calls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.total
}

// CallsTo is the number of requests whose path started with prefix.
func (d *DistGit) CallsTo(prefix string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for p, c := range d.calls {
		if strings.HasPrefix(p, prefix) {
			n += c
		}
	}
	return n
}

func (d *DistGit) json(p *fakeProject, short bool) map[string]any {
	fullname := p.ns + "/" + p.name
	if short {
		return map[string]any{"name": p.name, "namespace": p.ns, "fullname": fullname, "description": p.name + " package"}
	}
	users := map[string]any{}
	for _, l := range []string{"owner", "admin", "commit", "collaborator", "ticket"} {
		users[l] = append([]string{}, p.users[l]...)
	}
	groups := map[string]any{}
	for _, l := range []string{"admin", "commit", "collaborator", "ticket"} {
		groups[l] = append([]string{}, p.groups[l]...)
	}
	owner := ""
	if len(p.users["owner"]) > 0 {
		owner = p.users["owner"][0]
	}
	return map[string]any{
		"access_users": users, "access_groups": groups,
		"close_status": []string{}, "custom_keys": []string{}, "date_created": "1431549490",
		"date_modified": "1431549490", "description": p.name + " package",
		"full_url": d.URL + "/" + fullname, "fullname": fullname, "id": len(fullname),
		"milestones": map[string]any{}, "name": p.name, "namespace": p.ns, "parent": nil,
		"priorities": map[string]any{}, "tags": []string{}, "url_path": fullname,
		"user": map[string]any{"fullname": owner, "name": owner},
	}
}

func (p *fakeProject) userHasAny(u string) bool {
	for _, us := range p.users {
		if slices.Contains(us, u) {
			return true
		}
	}
	return false
}

func (d *DistGit) serve(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.total++
	d.calls[r.URL.Path]++
	if rest, ok := strings.CutPrefix(r.URL.Path, "/moved/"); ok {
		u := *r.URL
		u.Path = "/" + rest
		u.RawPath = ""
		http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
		return
	}
	if d.fail != 0 {
		writeJSON(w, d.fail, map[string]any{"error": "the test made dist-git fail", "error_code": "ETEST"})
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 3 || parts[0] != "api" || parts[1] != "0" {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Not found", "error_code": "ENOTFOUND"})
		return
	}
	q := r.URL.Query()
	switch {
	case len(parts) == 3 && parts[2] == "projects":
		var list []*fakeProject
		for _, k := range sortedKeys(d.projects) {
			p := d.projects[k]
			if u := q.Get("username"); u != "" && !p.userHasAny(u) {
				continue
			}
			if o := q.Get("owner"); o != "" && !slices.Contains(p.users["owner"], o) {
				continue
			}
			if ns := q.Get("namespace"); ns != "" && p.ns != ns {
				continue
			}
			if pat := q.Get("pattern"); pat != "" {
				if ok, _ := path.Match(pat, p.name); !ok {
					continue
				}
			}
			list = append(list, p)
		}
		short := q.Get("short") == "1" || strings.EqualFold(q.Get("short"), "true")
		items, pagination := d.paginate(r, list, short)
		writeJSON(w, http.StatusOK, map[string]any{
			"args": map[string]any{"username": q.Get("username"), "owner": q.Get("owner"), "namespace": q.Get("namespace"),
				"pattern": q.Get("pattern"), "fork": q.Get("fork"), "short": short},
			"total_projects": len(list), "projects": items, "pagination": pagination,
		})
	case len(parts) == 4 && parts[2] == "group":
		g := parts[3]
		if !d.groups[g] {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "Group not found", "error_code": "ENOGROUP"})
			return
		}
		out := map[string]any{"name": g, "display_name": g, "description": g, "group_type": "user", "members": []string{}}
		if q.Get("projects") == "1" || strings.EqualFold(q.Get("projects"), "true") {
			var acl []string
			switch a := strings.ToLower(q.Get("acl")); a {
			case "":
			case "ticket":
				acl = []string{"admin", "commit", "ticket"}
			case "commit":
				acl = []string{"commit", "admin"}
			default:
				acl = []string{a}
			}
			var list []*fakeProject
			for _, k := range sortedKeys(d.projects) {
				p := d.projects[k]
				for l, gs := range p.groups {
					if slices.Contains(gs, g) && (acl == nil || slices.Contains(acl, l)) {
						list = append(list, p)
						break
					}
				}
			}
			items, pagination := d.paginate(r, list, false)
			out["projects"], out["pagination"], out["total_projects"] = items, pagination, len(list)
		}
		writeJSON(w, http.StatusOK, out)
	case len(parts) == 4:
		p := d.projects[parts[2]+"/"+parts[3]]
		if p == nil {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "Project not found", "error_code": "ENOPROJECT"})
			return
		}
		writeJSON(w, http.StatusOK, d.json(p, false))
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Not found", "error_code": "ENOTFOUND"})
	}
}

// paginate answers one page as Pagure's get_pagination_metadata does.
func (d *DistGit) paginate(r *http.Request, list []*fakeProject, short bool) ([]any, map[string]any) {
	q := r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 20
	}
	per = min(per, d.MaxPerPage)
	page, _ := strconv.Atoi(q.Get("page"))
	if page <= 0 {
		page = 1
	}
	pages := max((len(list)+per-1)/per, 1)
	lo := min((page-1)*per, len(list))
	hi := min(lo+per, len(list))
	items := []any{}
	for _, p := range list[lo:hi] {
		items = append(items, d.json(p, short))
	}
	link := func(n int) any {
		if n < 1 || n > pages {
			return nil
		}
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("page", strconv.Itoa(n))
		v.Set("per_page", strconv.Itoa(per))
		return d.URL + r.URL.Path + "?" + v.Encode()
	}
	return items, map[string]any{
		"page": page, "pages": pages, "per_page": per,
		"first": link(1), "last": link(pages), "next": link(page + 1), "prev": link(page - 1),
	}
}
