package fasjson_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fasjson"
	"github.com/fmn-project/fmn/fmntest"
)

type bundle struct {
	ctx context.Context
	fas *fmntest.FASJSON
	c   *fasjson.Client
}

func setup(t *testing.T) *bundle {
	t.Helper()
	fas := fmntest.StartFASJSON(t)
	fas.Auth = "Bearer svc-token"
	c, err := fasjson.New(fasjson.Config{URL: fas.URL, Token: "svc-token", Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fas.AddUser("alice", []string{"alice@example.org", "alice@fedoraproject.org"}, []string{"irc:/alice", "matrix:/alice"})
	for _, g := range []string{"packager", "python-sig", "qa", "sysadmin", "zebra"} {
		fas.AddMember(g, "alice")
	}
	for _, u := range []string{"bob", "carol", "dave"} {
		fas.AddUser(u, []string{u + "@example.org"}, nil)
		fas.AddMember("qa", u)
	}
	return &bundle{ctx: fmntest.Context(t), fas: fas, c: c}
}

func TestClient(t *testing.T) {
	t.Parallel()

	t.Run("user", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u, err := b.c.User(b.ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if u.Username != "alice" || len(u.Emails) != 2 || !slices.Equal(u.IRCNicks, []string{"irc:/alice", "matrix:/alice"}) {
			t.Fatalf("%+v", u)
		}
		if len(u.Raw) == 0 {
			t.Fatal("no raw record")
		}
	})

	t.Run("unknown user is not found, asked once", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.c.User(b.ctx, "nobody")
		if !errors.Is(err, fasjson.ErrNotFound) || errors.Is(err, fasjson.ErrUnavailable) {
			t.Fatalf("error %v", err)
		}
		if n := b.fas.CallsTo("/v1/users/nobody"); n != 1 {
			t.Fatalf("%d calls", n)
		}
	})

	t.Run("a FASJSON outage is unavailable, not not-found", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.fas.Fail(500)
		_, err := b.c.User(b.ctx, "alice")
		if !errors.Is(err, fasjson.ErrUnavailable) || errors.Is(err, fasjson.ErrNotFound) {
			t.Fatalf("error %v", err)
		}
		if n := b.fas.Calls(); n != 3 {
			t.Fatalf("%d calls, want 3 attempts", n)
		}
	})

	t.Run("groups of a user, over three pages", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		gs, err := b.c.UserGroups(b.ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"packager", "python-sig", "qa", "sysadmin", "zebra"}; !slices.Equal(gs, want) {
			t.Fatalf("got %v, want %v", gs, want)
		}
		if n := b.fas.CallsTo("/v1/users/alice/groups/"); n != 3 {
			t.Fatalf("%d calls, want 3 pages", n)
		}
	})

	t.Run("members of a group", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ms, err := b.c.GroupMembers(b.ctx, "qa")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"alice", "bob", "carol", "dave"}; !slices.Equal(ms, want) {
			t.Fatalf("got %v", ms)
		}
		if _, err := b.c.GroupMembers(b.ctx, "nogroup"); !errors.Is(err, fasjson.ErrNotFound) {
			t.Fatalf("unknown group: %v", err)
		}
	})

	t.Run("search", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		us, err := b.c.SearchUsers(b.ctx, "a", false, 0)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range us {
			names = append(names, u.Username)
		}
		if want := []string{"alice", "carol", "dave"}; !slices.Equal(names, want) {
			t.Fatalf("got %v", names)
		}
		us, err = b.c.SearchUsers(b.ctx, "a", false, 1)
		if err != nil || len(us) != 1 {
			t.Fatalf("limit 1: %v %d", err, len(us))
		}
		us, err = b.c.SearchUsers(b.ctx, "bob", true, 0)
		if err != nil || len(us) != 1 || us[0].Username != "bob" {
			t.Fatalf("exact: %v %+v", err, us)
		}
	})

	t.Run("redirects are followed with the credentials", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		c, err := fasjson.New(fasjson.Config{URL: b.fas.URL + "/moved", Token: "svc-token"})
		if err != nil {
			t.Fatal(err)
		}
		u, err := c.User(b.ctx, "alice")
		if err != nil || u.Username != "alice" {
			t.Fatalf("%v %+v", err, u)
		}
		for _, a := range b.fas.AuthSeen() {
			if a != "Bearer svc-token" {
				t.Fatalf("a request without the token: %q", a)
			}
		}
	})

	t.Run("names that cannot be accounts are not asked", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if _, err := b.c.User(b.ctx, "../admin"); !errors.Is(err, fasjson.ErrNotFound) {
			t.Fatalf("error %v", err)
		}
		if b.fas.Calls() != 0 {
			t.Fatalf("%d calls", b.fas.Calls())
		}
	})
}
