package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fmn-project/fmn/api"
)

var nextLinkRx = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// TestAdminRulePages pages through GET /admin/rules with limit and after,
// following the Link headers.
func TestAdminRulePages(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	a1, _ := b.create(t, "alice", newRule("alice", "a1"))
	b1, _ := b.create(t, "bob", newRule("bob", "b1"))
	a2, _ := b.create(t, "alice", newRule("alice", "a2"))
	b2, _ := b.create(t, "bob", newRule("bob", "b2"))
	a3, _ := b.create(t, "alice", newRule("alice", "a3"))
	for _, id := range []int64{b1.ID, a3.ID} {
		expect(t, b.do(t, "root", http.MethodPatch, fmt.Sprintf("/api/v1/admin/rules/%d", id), map[string]any{"disabled": true}), http.StatusOK)
	}

	// list reads one response: its rule ids and its next link ("" if none).
	list := func(t *testing.T, path string) ([]int64, string) {
		t.Helper()
		r := b.do(t, "root", http.MethodGet, path, nil)
		expect(t, r, http.StatusOK)
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		var rules []api.Rule
		r.json(t, &rules)
		ids := []int64{}
		for _, x := range rules {
			ids = append(ids, x.ID)
		}
		links := r.header.Values("Link")
		if len(links) == 0 {
			return ids, ""
		}
		m := nextLinkRx.FindStringSubmatch(links[0])
		if len(links) != 1 || m == nil {
			t.Fatalf("%s: Link %q", path, links)
		}
		return ids, m[1]
	}
	// walk follows the next links from the first page.
	walk := func(t *testing.T, query string) [][]int64 {
		t.Helper()
		var pages [][]int64
		path := "/api/v1/admin/rules?" + query
		for path != "" {
			if len(pages) > 10 {
				t.Fatalf("%s: more than 10 pages", query)
			}
			ids, next := list(t, path)
			pages = append(pages, ids)
			if next == "" {
				break
			}
			if len(ids) != 2 {
				t.Errorf("%s: Link %q after a page of %d", path, next, len(ids))
			}
			u, err := url.Parse(next)
			if err != nil {
				t.Fatal(err)
			}
			// The same path and filters, after the page's last id.
			want, _ := url.ParseQuery(query)
			want.Set("after", strconv.FormatInt(ids[len(ids)-1], 10))
			if u.Path != "/api/v1/admin/rules" || u.Query().Encode() != want.Encode() {
				t.Errorf("%s: next %q, want %s?%s", path, next, "/api/v1/admin/rules", want.Encode())
			}
			path = next
		}
		return pages
	}

	for _, tt := range []struct {
		query string
		want  [][]int64
	}{
		{"limit=2", [][]int64{{a1.ID, b1.ID}, {a2.ID, b2.ID}, {a3.ID}}},
		{"username=alice&limit=2", [][]int64{{a1.ID, a2.ID}, {a3.ID}}},
		{"disabled=false&limit=2", [][]int64{{a1.ID, a2.ID}, {b2.ID}}},
		// A full last page links to an empty one.
		{"disabled=true&limit=2", [][]int64{{b1.ID, a3.ID}, {}}},
		{"limit=2&disabled=true&username=alice", [][]int64{{a3.ID}}},
		{"username=bob&disabled=false&limit=2", [][]int64{{b2.ID}}},
		{"username=nobody&limit=2", [][]int64{{}}},
		{fmt.Sprintf("limit=2&after=%d", b1.ID), [][]int64{{a2.ID, b2.ID}, {a3.ID}}},
		{fmt.Sprintf("username=bob&limit=2&after=%d", b2.ID), [][]int64{{}}},
	} {
		t.Run(tt.query, func(t *testing.T) {
			if got := walk(t, tt.query); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("pages %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("every page of one rule", func(t *testing.T) {
		all := []int64{a1.ID, b1.ID, a2.ID, b2.ID, a3.ID}
		var got []int64
		path := "/api/v1/admin/rules?limit=1"
		for n := 0; path != ""; n++ {
			if n > len(all) {
				t.Fatalf("more than %d pages", len(all)+1)
			}
			var ids []int64
			ids, path = list(t, path)
			got = append(got, ids...)
		}
		if !slices.Equal(got, all) {
			t.Errorf("rules %v, want %v", got, all)
		}
	})

	t.Run("without limit every rule, no Link", func(t *testing.T) {
		for _, tt := range []struct {
			query string
			want  []int64
		}{
			{"", []int64{a1.ID, b1.ID, a2.ID, b2.ID, a3.ID}},
			{"?username=alice&disabled=false", []int64{a1.ID, a2.ID}},
			{fmt.Sprintf("?after=%d", a2.ID), []int64{b2.ID, a3.ID}},
			{"?after=0", []int64{a1.ID, b1.ID, a2.ID, b2.ID, a3.ID}},
			{"?limit=5000", []int64{a1.ID, b1.ID, a2.ID, b2.ID, a3.ID}},
		} {
			ids, next := list(t, "/api/v1/admin/rules"+tt.query)
			if !slices.Equal(ids, tt.want) || next != "" {
				t.Errorf("%q: %v, Link %q; want %v and no Link", tt.query, ids, next, tt.want)
			}
		}
	})

	t.Run("the link keeps the filters, encoded", func(t *testing.T) {
		r := b.do(t, "root", http.MethodGet, "/api/v1/admin/rules?username=alice&disabled=false&limit=1", nil)
		expect(t, r, http.StatusOK)
		want := fmt.Sprintf(`</api/v1/admin/rules?after=%d&disabled=false&limit=1&username=alice>; rel="next"`, a1.ID)
		if got := r.header.Get("Link"); got != want {
			t.Errorf("Link %q, want %q", got, want)
		}
		r = b.do(t, "root", http.MethodGet, "/api/v1/admin/rules?username="+url.QueryEscape("a&b c")+"&limit=1", nil)
		expect(t, r, http.StatusOK)
		if got := r.header.Get("Link"); got != "" {
			t.Errorf("Link %q for an empty page", got)
		}
	})

	t.Run("out of range is 422", func(t *testing.T) {
		for _, tt := range []struct{ query, location, message string }{
			{"limit=0", "query.limit", "expected number >= 1"},
			{"limit=5001", "query.limit", "expected number <= 5000"},
			{"limit=-3&username=alice", "query.limit", "expected number >= 1"},
			{"after=-1", "query.after", "expected number >= 0"},
			{"limit=two", "query.limit", "invalid integer"},
		} {
			r := b.do(t, "root", http.MethodGet, "/api/v1/admin/rules?"+tt.query, nil)
			expect(t, r, http.StatusUnprocessableEntity)
			p := r.problem(t)
			if len(p.Errors) != 1 || p.Errors[0].Location != tt.location || !strings.Contains(p.Errors[0].Message, tt.message) {
				t.Errorf("%s: problem %+v, want %s: %s", tt.query, p, tt.location, tt.message)
			}
			if r.header.Get("Link") != "" {
				t.Errorf("%s: Link on an error", tt.query)
			}
		}
	})

	t.Run("only for admins", func(t *testing.T) {
		expect(t, b.do(t, "alice", http.MethodGet, "/api/v1/admin/rules?limit=2", nil), http.StatusForbidden)
	})
}
