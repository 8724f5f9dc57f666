package api_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/fmn-project/fmn/api"
)

func TestConcurrency(t *testing.T) {
	t.Parallel()

	t.Run("two clients with If-Match: one wins, one gets 412", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		for round := range 10 {
			rule, tag := b.create(t, "alice", newRule("alice", fmt.Sprintf("round %d", round)))
			path := fmt.Sprintf("/api/v1/users/alice/rules/%d", rule.ID)
			codes := make([]int, 2)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for c := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					codes[c] = b.do(t, "alice", http.MethodPut, path, newRule("alice", fmt.Sprintf("client %d", c)), "If-Match: "+tag).status
				}()
			}
			close(start)
			wg.Wait()
			won := -1
			switch {
			case codes[0] == http.StatusOK && codes[1] == http.StatusPreconditionFailed:
				won = 0
			case codes[1] == http.StatusOK && codes[0] == http.StatusPreconditionFailed:
				won = 1
			default:
				t.Fatalf("round %d: statuses %v, want one 200 and one 412", round, codes)
			}
			var got api.Rule
			b.do(t, "alice", http.MethodGet, path, nil).json(t, &got)
			if got.Name == nil || *got.Name != fmt.Sprintf("client %d", won) {
				t.Errorf("round %d: rule is %q, the winner was client %d", round, str(got.Name), won)
			}
		}
	})

	t.Run("create then GET at once always shows the rule", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		var wg sync.WaitGroup
		for c := range 4 {
			user := []string{"alice", "bob"}[c%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 15 {
					rule, tag := b.create(t, user, newRule(user, fmt.Sprintf("c%d-%d", c, i)))
					r := b.do(t, user, http.MethodGet, fmt.Sprintf("/api/v1/users/%s/rules/%d", user, rule.ID), nil)
					if r.status != http.StatusOK || r.header.Get("ETag") != tag {
						t.Errorf("GET after create: %d, ETag %q want %q", r.status, r.header.Get("ETag"), tag)
					}
					var list []api.Rule
					b.do(t, user, http.MethodGet, "/api/v1/users/"+user+"/rules", nil).json(t, &list)
					found := false
					for _, x := range list {
						found = found || x.ID == rule.ID
					}
					if !found {
						t.Errorf("list after create lacks rule %d", rule.ID)
					}
				}
			}()
		}
		wg.Wait()
	})
}
