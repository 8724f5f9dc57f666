package rulelog_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

// TestDefaultRules: the admins' list is an event on RULES that the
// projector passes over (live and on a rebuild) and DefaultRules reads
// back; the default rules of a user are appended once, by the call that
// records the user, however many race.
func TestDefaultRules(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	d, err := b.cmds.DefaultRules(b.ctx)
	if err != nil || d.Set || d.Version != 0 {
		t.Fatalf("before any list: %+v, %v", d, err)
	}
	zero := uint64(0)
	v, err := b.cmds.SetDefaultRules(b.ctx, rules.ShippedTemplates(), &zero, rulelog.Meta{Actor: "root"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.cmds.SetDefaultRules(b.ctx, nil, &zero, rulelog.Meta{Actor: "root"}); !errors.Is(err, rulelog.ErrPreconditionFailed) {
		t.Fatalf("a stale version: %v", err)
	}
	bad := rules.ShippedTemplates()
	bad[1].TrackingRule.Name = "nonsense"
	var te rulelog.TemplateError
	if _, err := b.cmds.SetDefaultRules(b.ctx, bad, nil, rulelog.Meta{}); !errors.As(err, &te) || te.Index != 1 || !errors.Is(err, rulelog.ErrInvalid) {
		t.Fatalf("an invalid template: %v", err)
	}
	d, err = b.cmds.DefaultRules(b.ctx)
	if err != nil || !d.Set || d.Version != v || len(d.Templates) != 2 || d.Templates[1].Name != "Artifacts I own" {
		t.Fatalf("read back: %+v, %v", d, err)
	}
	// The projector went past the admin's event.
	if err := b.cmds.WaitProjected(b.ctx, v); err != nil {
		t.Fatal(err)
	}

	calls := 0
	var mu sync.Mutex
	defaults := func(context.Context) ([]rules.Rule, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		var out []rules.Rule
		for _, tpl := range d.Templates {
			r, _ := rules.Instantiate(tpl, "dave", []rules.Destination{{Protocol: "email", Address: "dave@example.org"}})
			out = append(out, r)
		}
		return out, nil
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = b.cmds.EnsureUser(b.ctx, "dave", rulelog.Meta{}, defaults) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	list, err := b.store.UserRules(b.ctx, "dave")
	if err != nil || len(list) != 2 {
		t.Fatalf("dave's rules after 4 racing EnsureUser: %d, %v", len(list), err)
	}
	for _, r := range list {
		if r.Origin != rules.OriginDefault || r.User.Name != "dave" {
			t.Errorf("rule %d: %+v", r.ID, r.Rule)
		}
	}
	if string(list[1].TrackingRule.Params) != `["dave"]` {
		t.Errorf("{me} became %s", list[1].TrackingRule.Params)
	}
	// Known now: nothing more, defaults not even asked.
	before := calls
	if err := b.cmds.EnsureUser(b.ctx, "dave", rulelog.Meta{}, defaults); err != nil || calls != before {
		t.Fatalf("EnsureUser of a known user: %v, defaults called %d more times", err, calls-before)
	}
	// A failing lookup records nothing: the next call tries again.
	down := errors.New("FASJSON down")
	if err := b.cmds.EnsureUser(b.ctx, "erin", rulelog.Meta{}, func(context.Context) ([]rules.Rule, error) { return nil, down }); !errors.Is(err, down) {
		t.Fatalf("EnsureUser with a failing lookup: %v", err)
	}
	if _, err := b.store.User(b.ctx, "erin"); !errors.Is(err, rulelog.ErrNotFound) {
		t.Fatalf("erin recorded despite the failure: %v", err)
	}

	// A rebuild gives the same tables, origin included.
	want := dump(t, b.ctx, b.pg.Pool)
	if _, err := b.proj.Rebuild(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, b.ctx, b.pg.Pool); got != want {
		t.Errorf("after a rebuild:\n%s\nwant:\n%s", got, want)
	}
}
