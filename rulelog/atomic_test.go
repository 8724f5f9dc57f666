package rulelog_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/streams"
	"github.com/fmn-project/fmn/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A new user's user.created and default rules are one atomic batch on
// RULES: these tests stop it where a crash would, lose its answers, send
// it twice and race it, on a real nats-server, and check that the user is
// recorded with all their default rules exactly once, or not at all.

// threeDefaults is a list of three valid default rules of user.
func threeDefaults(user string) []rules.Rule {
	return []rules.Rule{rule(user, "d0"), rule(user, "d1"), rule(user, "d2")}
}

// subjectEvents is how many events user's subject holds.
func subjectEvents(t *testing.T, b *bundle, user string) uint64 {
	t.Helper()
	st, err := b.nats.JS.Stream(b.ctx, b.nats.Streams.Rules)
	if err != nil {
		t.Fatal(err)
	}
	subj := wire.RulesUserSubject(user)
	info, err := st.Info(b.ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subj]
}

// checkRecordedOnce checks that user is projected with exactly the default
// rules d0, d1 and d2, each once, and that their subject holds exactly
// user.created and those three rule.created events.
func checkRecordedOnce(t *testing.T, b *bundle, user string) {
	t.Helper()
	if n := subjectEvents(t, b, user); n != 4 {
		t.Errorf("%s's subject holds %d events, want 4 (user.created and 3 default rules)", user, n)
	}
	if _, err := b.store.User(b.ctx, user); err != nil {
		t.Errorf("%s not projected: %v", user, err)
	}
	list, err := b.store.UserRules(b.ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range list {
		names = append(names, r.Name)
		if r.Origin != rules.OriginDefault {
			t.Errorf("rule %d %q has origin %q, want default", r.ID, r.Name, r.Origin)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"d0", "d1", "d2"}) {
		t.Errorf("%s's rules: %q, want d0, d1 and d2 once each", user, names)
	}
}

var errCrash = errors.New("the process died here")

func TestEnsureUserAtomicDefaults(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	defaultsOf := func(user string) func(context.Context) ([]rules.Rule, error) {
		return func(context.Context) ([]rules.Rule, error) { return threeDefaults(user), nil }
	}

	// The gap this closes: user.created and the first default rule sent,
	// then the process dies before the rest. Nothing of it is stored, so
	// the next request records the user with all their rules.
	t.Run("crash mid-batch stores nothing", func(t *testing.T) {
		before := streamLastSeq(t, b)
		rulelog.SetBatchHook(b.cmds, func(seq int, err error) error {
			if err == nil && seq == 2 {
				return errCrash
			}
			return err
		})
		err := b.cmds.EnsureUser(b.ctx, "crash", rulelog.Meta{}, defaultsOf("crash"))
		rulelog.SetBatchHook(b.cmds, nil)
		if !errors.Is(err, errCrash) {
			t.Fatalf("EnsureUser stopped mid-batch: %v", err)
		}
		if n := subjectEvents(t, b, "crash"); n != 0 || streamLastSeq(t, b) != before {
			t.Fatalf("an uncommitted batch stored %d events (stream at %d, was %d)", n, streamLastSeq(t, b), before)
		}
		if _, err := b.store.User(b.ctx, "crash"); !errors.Is(err, rulelog.ErrNotFound) {
			t.Fatalf("user projected from an uncommitted batch: %v", err)
		}
		if err := b.cmds.EnsureUser(b.ctx, "crash", rulelog.Meta{}, defaultsOf("crash")); err != nil {
			t.Fatal(err)
		}
		checkRecordedOnce(t, b, "crash")
	})

	// The commit's answer is lost: the batch was stored, and the subject's
	// first event, ours, says so; nothing is sent again.
	t.Run("lost commit answer", func(t *testing.T) {
		var sent []int
		rulelog.SetBatchHook(b.cmds, func(seq int, err error) error {
			sent = append(sent, seq)
			if err == nil && seq == 4 {
				return nats.ErrTimeout
			}
			return err
		})
		err := b.cmds.EnsureUser(b.ctx, "lostack", rulelog.Meta{}, defaultsOf("lostack"))
		rulelog.SetBatchHook(b.cmds, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sent, []int{1, 2, 3, 4}) {
			t.Errorf("messages sent: %v, want the batch once", sent)
		}
		checkRecordedOnce(t, b, "lostack")
	})

	// A staged message's answer is lost (the batch may be staged): the
	// subject is empty, so the batch goes again, with a new batch id.
	t.Run("lost answer before the commit", func(t *testing.T) {
		var sent []int
		rulelog.SetBatchHook(b.cmds, func(seq int, err error) error {
			sent = append(sent, seq)
			if err == nil && seq == 1 && len(sent) == 1 {
				return nats.ErrTimeout
			}
			return err
		})
		err := b.cmds.EnsureUser(b.ctx, "lostmid", rulelog.Meta{}, defaultsOf("lostmid"))
		rulelog.SetBatchHook(b.cmds, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sent, []int{1, 1, 2, 3, 4}) {
			t.Errorf("messages sent: %v, want 1, then the whole batch again", sent)
		}
		checkRecordedOnce(t, b, "lostmid")
	})

	// The same batch sent twice (same message ids, as a retry after a
	// lost answer does): the server refuses the second as a duplicate, it
	// stores nothing, and the call succeeds with the first one's events.
	t.Run("batch sent again", func(t *testing.T) {
		const id = "record-frank-1"
		seq, err := rulelog.RecordUser(b.ctx, b.cmds, "frank", threeDefaults("frank"), rulelog.Meta{}, id)
		if err != nil {
			t.Fatal(err)
		}
		var refused []error
		rulelog.SetBatchHook(b.cmds, func(_ int, err error) error {
			if err != nil {
				refused = append(refused, err)
			}
			return err
		})
		again, err := rulelog.RecordUser(b.ctx, b.cmds, "frank", threeDefaults("frank"), rulelog.Meta{}, id)
		rulelog.SetBatchHook(b.cmds, nil)
		if err != nil || again != seq {
			t.Fatalf("the batch sent again: %d, %v; want %d", again, err, seq)
		}
		if len(refused) != 1 || !apiCode(refused[0], 10201) {
			t.Errorf("the server's answers to the second batch: %v, want one duplicate refusal (10201)", refused)
		}
		if err := b.cmds.WaitProjected(b.ctx, seq); err != nil {
			t.Fatal(err)
		}
		checkRecordedOnce(t, b, "frank")

		// A twin (another call, its own message id) records nothing.
		if _, err := rulelog.RecordUser(b.ctx, b.cmds, "frank", threeDefaults("frank"), rulelog.Meta{}, "record-frank-2"); !errors.Is(err, rulelog.ErrConflictInternal) {
			t.Fatalf("a twin's batch: %v, want a conflict", err)
		}
		checkRecordedOnce(t, b, "frank")
	})

	// A twin records the user while this call's batch is staged but not
	// committed: the commit is refused, this call stores nothing and
	// succeeds on the twin's events.
	t.Run("twin while staged", func(t *testing.T) {
		staged, resume := make(chan struct{}), make(chan struct{})
		rulelog.SetBatchHook(b.cmds, func(seq int, err error) error {
			if err == nil && seq == 3 {
				close(staged)
				<-resume
			}
			return err
		})
		done := make(chan error, 1)
		go func() { done <- b.cmds.EnsureUser(b.ctx, "gina", rulelog.Meta{}, defaultsOf("gina")) }()
		<-staged
		rulelog.SetBatchHook(b.cmds, nil) // the twin below runs freely
		if err := b.cmds.EnsureUser(b.ctx, "gina", rulelog.Meta{}, defaultsOf("gina")); err != nil {
			t.Fatalf("the twin: %v", err)
		}
		close(resume)
		if err := <-done; err != nil {
			t.Fatalf("the call whose batch was staged: %v", err)
		}
		checkRecordedOnce(t, b, "gina")
	})

	// Many at once, each with its own batch.
	t.Run("racing twins", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Go(func() { errs[i] = b.cmds.EnsureUser(b.ctx, "hana", rulelog.Meta{}, defaultsOf("hana")) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		checkRecordedOnce(t, b, "hana")
	})

	// An invalid default rule is left out; the rest go in one batch.
	t.Run("invalid left out", func(t *testing.T) {
		bad := rule("ivan", "bad")
		bad.TrackingRule.Name = "nonsense"
		list := append([]rules.Rule{bad}, threeDefaults("ivan")...)
		if err := b.cmds.EnsureUser(b.ctx, "ivan", rulelog.Meta{}, func(context.Context) ([]rules.Rule, error) { return list, nil }); err != nil {
			t.Fatal(err)
		}
		checkRecordedOnce(t, b, "ivan")
	})

	// Without a default rule, user.created is a single publish, no batch.
	t.Run("no defaults", func(t *testing.T) {
		batches := 0
		rulelog.SetBatchHook(b.cmds, func(_ int, err error) error { batches++; return err })
		err := b.cmds.EnsureUser(b.ctx, "jo", rulelog.Meta{}, func(context.Context) ([]rules.Rule, error) { return nil, nil })
		rulelog.SetBatchHook(b.cmds, nil)
		if err != nil || batches != 0 || subjectEvents(t, b, "jo") != 1 {
			t.Fatalf("EnsureUser without defaults: %v, %d batch messages, %d events", err, batches, subjectEvents(t, b, "jo"))
		}
	})

	// The projection equals its rebuild from the stream: the batches'
	// events are ordinary events.
	want := dump(t, b.ctx, b.pg.Pool)
	if _, err := b.proj.Rebuild(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, b.ctx, b.pg.Pool); got != want {
		t.Errorf("after a rebuild:\n%s\nwant:\n%s", got, want)
	}
}

// The admins' list is bounded so that a new user's batch stays within the
// server's batch size.
func TestSetDefaultRulesBound(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noProjector: true})
	list := make([]rules.Rule, rulelog.MaxDefaultRules+1)
	for i := range list {
		list[i] = rules.ShippedTemplates()[0]
		list[i].Name = fmt.Sprint("t", i)
	}
	if _, err := b.cmds.SetDefaultRules(b.ctx, list, nil, rulelog.Meta{}); !errors.Is(err, rulelog.ErrInvalid) {
		t.Fatalf("%d default rules: %v, want ErrInvalid", len(list), err)
	}
	if _, err := b.cmds.SetDefaultRules(b.ctx, list[:rulelog.MaxDefaultRules], nil, rulelog.Meta{}); err != nil {
		t.Fatalf("%d default rules: %v", rulelog.MaxDefaultRules, err)
	}
}

func apiCode(err error, code jetstream.ErrorCode) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == code
}

// On an R3 RULES stream of a three-node cluster, as production runs it:
// the batch, a lost commit answer, the batch sent twice and racing twins.
func TestEnsureUserAtomicDefaultsOnACluster(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := fmntest.StartNATSCluster(t, 3)
	nc, js := c.Connect(t)
	ctx := fmntest.Context(t)
	cfg := streams.Defaults()
	cfg.Replicas = 3
	if err := streams.Ensure(ctx, js, cfg, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	b := &bundle{
		ctx:    ctx,
		nats:   &fmntest.NATS{URL: c.URL, Conn: nc, JS: js, Streams: cfg},
		pg:     fmntest.StartPostgres(t),
		prefix: fmntest.RedisPrefix(t),
	}
	b.redis = newRedis(t, b.prefix, nil)
	b.proj = b.projector(t, b.pg.Pool, rulelog.ProjectorConfig{})
	if err := b.proj.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.proj.Stop)
	cmds, err := rulelog.NewCommands(ctx, js, b.pg.Pool, rulelog.CommandsConfig{Stream: cfg.Rules, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cmds.Close)
	b.cmds, b.store = cmds, rulelog.NewStore(b.pg.Pool)
	defaultsOf := func(user string) func(context.Context) ([]rules.Rule, error) {
		return func(context.Context) ([]rules.Rule, error) { return threeDefaults(user), nil }
	}

	// Stopped before its commit: nothing; then all.
	rulelog.SetBatchHook(b.cmds, func(seq int, err error) error {
		if err == nil && seq == 3 {
			return errCrash
		}
		return err
	})
	if err := b.cmds.EnsureUser(ctx, "lena", rulelog.Meta{}, defaultsOf("lena")); !errors.Is(err, errCrash) {
		t.Fatalf("EnsureUser stopped mid-batch: %v", err)
	}
	if n := subjectEvents(t, b, "lena"); n != 0 {
		t.Fatalf("an uncommitted batch stored %d events", n)
	}
	// The commit's answer lost.
	rulelog.SetBatchHook(b.cmds, func(seq int, err error) error {
		if err == nil && seq == 4 {
			return nats.ErrTimeout
		}
		return err
	})
	if err := b.cmds.EnsureUser(ctx, "lena", rulelog.Meta{}, defaultsOf("lena")); err != nil {
		t.Fatal(err)
	}
	rulelog.SetBatchHook(b.cmds, nil)
	checkRecordedOnce(t, b, "lena")

	// The same batch twice.
	seq, err := rulelog.RecordUser(ctx, b.cmds, "max", threeDefaults("max"), rulelog.Meta{}, "record-max")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := rulelog.RecordUser(ctx, b.cmds, "max", threeDefaults("max"), rulelog.Meta{}, "record-max"); err != nil || again != seq {
		t.Fatalf("the batch sent again: %d, %v; want %d", again, err, seq)
	}
	if err := b.cmds.WaitProjected(ctx, seq); err != nil {
		t.Fatal(err)
	}
	checkRecordedOnce(t, b, "max")

	// Twins.
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() { errs[i] = b.cmds.EnsureUser(ctx, "nora", rulelog.Meta{}, defaultsOf("nora")) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	checkRecordedOnce(t, b, "nora")
}
