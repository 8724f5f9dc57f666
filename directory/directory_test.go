package directory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fmn-project/fmn/directory"
	"github.com/fmn-project/fmn/distgit"
	"github.com/fmn-project/fmn/fasjson"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rules"
	"github.com/fmn-project/fmn/svccache"
	"github.com/redis/rueidis"
)

type bundle struct {
	ctx context.Context
	fas *fmntest.FASJSON
	dg  *fmntest.DistGit
	dir *directory.Directory
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{ctx: fmntest.Context(t), fas: fmntest.StartFASJSON(t), dg: fmntest.StartDistGit(t)}
	prefix := fmntest.RedisPrefix(t)
	opt, err := rueidis.ParseURL(fmntest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	inv := svccache.Hook(&opt)
	client, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatalf("Redis at %s: %v", fmntest.RedisURL(), err)
	}
	t.Cleanup(client.Close)
	t.Cleanup(func() { deleteKeys(client, prefix) })
	fc, err := fasjson.New(fasjson.Config{URL: b.fas.URL, Backoff: time.Millisecond, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	dc, err := distgit.New(distgit.Config{URL: b.dg.URL, Backoff: time.Millisecond, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	b.dir = directory.New(directory.Config{
		FASJSON: fc, DistGit: dc, Invalidations: inv,
		Cache: svccache.New(b.ctx, client, inv, svccache.Config{Prefix: prefix + "svc:"}),
	})

	b.fas.AddUser("alice", []string{"alice@example.org"}, []string{"irc:/alice", "matrix:/alice", "matrix://matrix.org/alice2"})
	b.fas.AddUser("bob", []string{"bob@example.org"}, nil)
	b.fas.AddUser("alina", []string{"alina@example.org"}, nil)
	b.fas.AddMember("packager", "alice")
	b.fas.AddMember("packager", "bob")
	b.fas.AddMember("qa", "alice")

	b.dg.AddProject("rpms", "python-requests", "alice")
	b.dg.AddProject("container", "toolbox", "bob")
	b.dg.SetUserAccess("container", "toolbox", "alice", "admin")
	b.dg.AddProject("modules", "nodejs", "bob")
	b.dg.SetUserAccess("modules", "nodejs", "alice", "commit")
	b.dg.AddProject("flatpaks", "firefox", "bob")
	b.dg.SetUserAccess("flatpaks", "firefox", "alice", "collaborator")
	b.dg.AddProject("rpms", "kernel", "bob")
	b.dg.SetUserAccess("rpms", "kernel", "alice", "ticket")
	b.dg.AddProject("tests", "python-requests", "alice")
	b.dg.SetGroupAccess("rpms", "kernel", "kernel-sig", "admin")
	b.dg.SetGroupAccess("rpms", "python-requests", "python-sig", "collaborator")
	b.dg.SetGroupAccess("flatpaks", "firefox", "python-sig", "ticket")
	return b
}

func deleteKeys(c rueidis.Client, prefix string) {
	ctx := context.Background()
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			return
		}
		if len(e.Elements) > 0 {
			_ = c.Do(ctx, c.B().Del().Key(e.Elements...).Build()).Error()
		}
		if cursor = e.Cursor; cursor == 0 {
			return
		}
	}
}

func artifacts(set rules.ArtifactSet) []string {
	var out []string
	for a := range set.All() {
		out = append(out, a.Type+"/"+a.Name)
	}
	slices.Sort(out)
	return out
}

func TestLookups(t *testing.T) {
	t.Parallel()

	t.Run("a user owns with owner, admin, commit, collaborator; not ticket", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		set, err := b.dir.OwnedArtifacts(b.ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"containers/toolbox", "flatpaks/firefox", "modules/nodejs", "rpms/python-requests"}
		if got := artifacts(set); !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})

	t.Run("a group owns with admin, commit, collaborator; not ticket", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for group, want := range map[string][]string{
			"python-sig": {"rpms/python-requests"},
			"kernel-sig": {"rpms/kernel"},
			"nobody-sig": nil,
		} {
			set, err := b.dir.GroupOwnedArtifacts(b.ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			if got := artifacts(set); !slices.Equal(got, want) {
				t.Errorf("%s: got %v, want %v", group, got, want)
			}
		}
	})

	t.Run("answers are cached", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for range 50 {
			if _, err := b.dir.OwnedArtifacts(b.ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			if _, err := b.dir.User(b.ctx, "alice"); err != nil {
				t.Fatal(err)
			}
		}
		if n := b.dg.Calls(); n != 3 {
			t.Errorf("%d dist-git calls, want 3 (one lookup over 3 pages)", n)
		}
		if n := b.fas.Calls(); n != 1 {
			t.Errorf("%d FASJSON calls", n)
		}
	})

	t.Run("an outage is an error, not an empty answer", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.dg.Fail(500)
		if _, err := b.dir.OwnedArtifacts(b.ctx, "alice"); !errors.Is(err, directory.ErrUnavailable) {
			t.Fatalf("error %v", err)
		}
		b.dg.Fail(0)
		if set, err := b.dir.OwnedArtifacts(b.ctx, "alice"); err != nil || set.Len() != 4 {
			t.Fatalf("after recovery: %v %v", artifacts(set), err)
		}
	})
}

func TestAccounts(t *testing.T) {
	t.Parallel()
	b := setup(t)

	u, err := b.dir.User(b.ctx, "alice")
	if err != nil || u.Username != "alice" || len(u.Raw) == 0 {
		t.Fatalf("user: %+v %v", u, err)
	}
	if _, err := b.dir.User(b.ctx, "nobody"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	gs, err := b.dir.UserGroups(b.ctx, "alice")
	if err != nil || !slices.Equal(gs, []string{"packager", "qa"}) {
		t.Fatalf("groups: %v %v", gs, err)
	}
	ms, err := b.dir.GroupMembers(b.ctx, "packager")
	if err != nil || !slices.Equal(ms, []string{"alice", "bob"}) {
		t.Fatalf("members: %v %v", ms, err)
	}
	us, err := b.dir.SearchUsers(b.ctx, "ali")
	if err != nil || !slices.Equal(us, []string{"alice", "alina"}) {
		t.Fatalf("search: %v %v", us, err)
	}
	ds, err := b.dir.Destinations(b.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := []rules.Destination{
		{Protocol: "email", Address: "alice@example.org"},
		{Protocol: "irc", Address: "alice"},
		{Protocol: "matrix", Address: "@alice:fedora.im"},
		{Protocol: "matrix", Address: "@alice2:matrix.org"},
	}
	if !slices.Equal(ds, want) {
		t.Fatalf("destinations: %v", ds)
	}
	arts, err := b.dir.SearchArtifacts(b.ctx, directory.ArtifactQuery{Names: []string{"fire"}, Groups: []string{"kernel-sig"}})
	if err != nil {
		t.Fatal(err)
	}
	wantArts := []rules.FollowedArtifact{{Name: "firefox", Type: "flatpaks"}, {Name: "kernel", Type: "rpms"}}
	if !slices.Equal(arts, wantArts) {
		t.Fatalf("artifacts: %v", arts)
	}
	arts, err = b.dir.SearchArtifacts(b.ctx, directory.ArtifactQuery{Users: []string{"alice"}, Names: []string{"python"}})
	if err != nil || len(arts) != 4 {
		t.Fatalf("artifacts of alice: %v %v", arts, err)
	}
}

func TestUserExists(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if ok, err := b.dir.UserExists(b.ctx, "alice"); !ok || err != nil {
		t.Fatalf("alice: %v %v", ok, err)
	}
	if ok, err := b.dir.UserExists(b.ctx, "ghost"); ok || err != nil {
		t.Fatalf("ghost: %v %v", ok, err)
	}
	// The cached "no" is confirmed: the account created since counts.
	b.fas.AddUser("ghost", []string{"ghost@example.org"}, nil)
	if ok, err := b.dir.UserExists(b.ctx, "ghost"); !ok || err != nil {
		t.Fatalf("ghost created: %v %v", ok, err)
	}
	if _, err := b.dir.User(b.ctx, "ghost"); err != nil {
		t.Fatalf("the stale cached answer was not dropped: %v", err)
	}
	b.fas.Fail(500)
	if ok, err := b.dir.UserExists(b.ctx, "carol"); ok || !errors.Is(err, directory.ErrUnavailable) {
		t.Fatalf("outage: %v %v", ok, err)
	}
}

// An account created after fmn cached "no such user" exists as soon as
// the bus says so.
func TestAccountCreated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.dir.User(b.ctx, "newbie"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("before: %v", err)
	}
	b.fas.AddUser("newbie", []string{"newbie@example.org"}, nil)
	if _, err := b.dir.User(b.ctx, "newbie"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("the not-found answer is not cached: %v", err)
	}
	body := json.RawMessage(`{"msg": {"user": "newbie", "agent": "newbie"}}`)
	if _, err := b.dir.Invalidate(b.ctx, "org.fedoraproject.prod.fas.user.create", body); err != nil {
		t.Fatal(err)
	}
	if ds, err := b.dir.Destinations(b.ctx, "newbie"); err != nil || len(ds) != 1 {
		t.Fatalf("after the message: %v %v", ds, err)
	}
}

// Bus messages drop exactly the entries they make stale.
// callCounts counts service calls per kind of entry.
type callCounts struct{ user, groups, members, owned, group int }

func TestInvalidate(t *testing.T) {
	t.Parallel()

	msg := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// want says which entries were fetched again after the message.
	type want struct{ user, groups, members, owned, group bool }
	// calls reads everything (twice: the second read shows what is
	// cached) and counts the calls each kind of entry took so far.
	calls := func(b *bundle) callCounts {
		for range 2 {
			_, _ = b.dir.User(b.ctx, "alice")
			_, _ = b.dir.UserGroups(b.ctx, "alice")
			_, _ = b.dir.GroupMembers(b.ctx, "packager")
			_, _ = b.dir.OwnedArtifacts(b.ctx, "alice")
			_, _ = b.dir.GroupOwnedArtifacts(b.ctx, "python-sig")
		}
		groups := b.fas.CallsTo("/v1/users/alice/groups/")
		return callCounts{
			user: b.fas.CallsTo("/v1/users/alice/") - groups, groups: groups,
			members: b.fas.CallsTo("/v1/groups/packager/members/"),
			owned:   b.dg.CallsTo("/api/0/projects"), group: b.dg.CallsTo("/api/0/group/python-sig"),
		}
	}

	for _, tc := range []struct {
		name  string
		topic string
		body  func(b *bundle) json.RawMessage
		want  want
		users []string
	}{
		{"fas.user.update drops the account and its groups", "org.fedoraproject.prod.fas.user.update",
			func(*bundle) json.RawMessage {
				return msg(map[string]any{"msg": map[string]any{"agent": "alice", "user": "alice", "fields": []string{"ircnicks"}}})
			}, want{user: true, groups: true}, nil},
		{"fas.user.create", "org.fedoraproject.prod.fas.user.create",
			func(*bundle) json.RawMessage { return msg(map[string]any{"msg": map[string]any{"user": "alice"}}) },
			want{user: true, groups: true}, nil},
		{"fas.group.member.sponsor drops the user's groups and the members", "org.fedoraproject.prod.fas.group.member.sponsor",
			func(*bundle) json.RawMessage {
				return msg(map[string]any{"msg": map[string]any{"agent": "bob", "user": "alice", "group": "packager"}})
			}, want{groups: true, members: true}, nil},
		{"fas.group.member.remove too", "org.fedoraproject.prod.fas.group.member.remove",
			func(*bundle) json.RawMessage {
				return msg(map[string]any{"msg": map[string]any{"agent": "bob", "user": "alice", "group": "packager"}})
			}, want{groups: true, members: true}, nil},
		{"pagure.project.user.added drops the user's owned artifacts", "org.fedoraproject.prod.pagure.project.user.added",
			func(b *bundle) json.RawMessage {
				return msg(map[string]any{"agent": "bob", "new_user": "alice", "access": "commit", "project": b.dg.ProjectJSON("rpms", "kernel")})
			}, want{owned: true}, []string{"alice"}},
		{"pagure.project.user.removed", "org.fedoraproject.prod.pagure.project.user.removed",
			func(b *bundle) json.RawMessage {
				return msg(map[string]any{"agent": "bob", "removed_user": "alice", "project": b.dg.ProjectJSON("rpms", "kernel")})
			}, want{owned: true}, []string{"alice"}},
		{"pagure.project.user.access.updated", "org.fedoraproject.prod.pagure.project.user.access.updated",
			func(b *bundle) json.RawMessage {
				return msg(map[string]any{"agent": "bob", "new_user": "alice", "new_access": "admin", "old_access": "ticket", "project": b.dg.ProjectJSON("rpms", "kernel")})
			}, want{owned: true}, []string{"alice"}},
		{"pagure.project.group.added drops the group's", "org.fedoraproject.prod.pagure.project.group.added",
			func(b *bundle) json.RawMessage {
				return msg(map[string]any{"agent": "bob", "new_group": "python-sig", "access": "commit", "project": b.dg.ProjectJSON("rpms", "kernel")})
			}, want{group: true}, nil},
		{"pagure.project.group.removed", "org.fedoraproject.prod.pagure.project.group.removed",
			func(b *bundle) json.RawMessage {
				return msg(map[string]any{"agent": "bob", "removed_groups": []string{"python-sig"}, "project": b.dg.ProjectJSON("rpms", "kernel")})
			}, want{group: true}, nil},
		{"pagure.project.group.access.updated", "org.fedoraproject.prod.pagure.project.group.access.updated",
			func(b *bundle) json.RawMessage {
				return msg(map[string]any{"agent": "bob", "new_group": "python-sig", "new_access": "admin", "project": b.dg.ProjectJSON("rpms", "kernel")})
			}, want{group: true}, nil},
		{"another Pagure's access change changes nothing", "io.pagure.prod.pagure.project.user.added",
			func(b *bundle) json.RawMessage {
				p := b.dg.ProjectJSON("rpms", "kernel")
				p["full_url"] = "https://pagure.io/rpms/kernel"
				return msg(map[string]any{"agent": "bob", "new_user": "alice", "project": p})
			}, want{}, nil},
		{"a project outside the tracked namespaces changes nothing", "org.fedoraproject.prod.pagure.project.user.added",
			func(b *bundle) json.RawMessage {
				return msg(map[string]any{"agent": "bob", "new_user": "alice", "project": b.dg.ProjectJSON("tests", "python-requests")})
			}, want{}, nil},
		{"other topics change nothing", "org.fedoraproject.prod.bodhi.update.comment",
			func(*bundle) json.RawMessage { return msg(map[string]any{"user": "alice"}) }, want{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			before := calls(b)
			ch, err := b.dir.Invalidate(b.ctx, tc.topic, tc.body(b))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ch.Users, tc.users) {
				t.Errorf("change names users %v, want %v", ch.Users, tc.users)
			}
			after := calls(b)
			got := want{after.user > before.user, after.groups > before.groups, after.members > before.members,
				after.owned > before.owned, after.group > before.group}
			if got != tc.want {
				t.Errorf("entries fetched again %+v, want %+v (change %+v)", got, tc.want, ch)
			}
		})
	}
}

func TestDestinations(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		emails, nicks []string
		want          []rules.Destination
	}{
		{[]string{"a@example.org", "a@example.org"}, nil, []rules.Destination{{Protocol: "email", Address: "a@example.org"}}},
		{nil, []string{"irc:/nick"}, []rules.Destination{{Protocol: "irc", Address: "nick"}}},
		{nil, []string{"irc:nick"}, []rules.Destination{{Protocol: "irc", Address: "nick"}}},
		{nil, []string{"oldnick"}, []rules.Destination{{Protocol: "irc", Address: "oldnick"}}},
		{nil, []string{"matrix:/alice"}, []rules.Destination{{Protocol: "matrix", Address: "@alice:fedora.im"}}},
		{nil, []string{"matrix://matrix.org/alice"}, []rules.Destination{{Protocol: "matrix", Address: "@alice:matrix.org"}}},
		{nil, []string{"matrix:/@alice:example.com"}, []rules.Destination{{Protocol: "matrix", Address: "@alice:example.com"}}},
		{nil, []string{"xmpp:/alice", "matrix:/", ""}, []rules.Destination{}},
	} {
		got := directory.Destinations(fasjson.User{Emails: tc.emails, IRCNicks: tc.nicks})
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v %v: got %v, want %v", tc.emails, tc.nicks, got, tc.want)
		}
	}
}

// Without dist-git, ownership is empty rather than an error: the matcher
// must not stall its other rules on a service that is not configured.
func TestOwnershipWithoutDistGit(t *testing.T) {
	t.Parallel()
	ctx := fmntest.Context(t)
	prefix := fmntest.RedisPrefix(t)
	opt, err := rueidis.ParseURL(fmntest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	inv := svccache.Hook(&opt)
	client, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	t.Cleanup(func() { deleteKeys(client, prefix) })
	dir := directory.New(directory.Config{Invalidations: inv,
		Cache: svccache.New(ctx, client, inv, svccache.Config{Prefix: prefix + "svc:"})})
	for name, get := range map[string]func(context.Context, string) (rules.ArtifactSet, error){
		"user": dir.OwnedArtifacts, "group": dir.GroupOwnedArtifacts,
	} {
		set, err := get(ctx, "alice")
		if err != nil || set.Len() != 0 {
			t.Errorf("%s ownership without dist-git: %d artifacts, %v; want none, no error", name, set.Len(), err)
		}
	}
}

// TestChatOwners: the accounts listing an IRC nick (rfc1459 case mapping)
// or a Matrix id, found through FASJSON's ircnick search, also for a nick
// shorter than the 3 characters FASJSON's search wants.
func TestChatOwners(t *testing.T) {
	b := setup(t)
	b.fas.AddUser("xy", []string{"xy@example.org"}, []string{"irc://irc.libera.chat/xY"})
	b.fas.AddUser("locked", []string{"l@example.org"}, []string{"irc:/alice"})
	b.fas.SetUser("locked", map[string]any{"username": "locked", "ircnicks": []string{"irc:/alice"}, "locked": true})
	for _, tc := range []struct {
		dest rules.Destination
		want string
	}{
		{rules.Destination{Protocol: "irc", Address: "ALICE"}, "[{alice {irc alice}}]"},
		{rules.Destination{Protocol: "irc", Address: "Xy"}, "[{xy {irc xY}}]"},
		{rules.Destination{Protocol: "matrix", Address: "@alice2:matrix.org"}, "[{alice {matrix @alice2:matrix.org}}]"},
		{rules.Destination{Protocol: "matrix", Address: "@alice:fedora.im"}, "[{alice {matrix @alice:fedora.im}}]"},
		{rules.Destination{Protocol: "matrix", Address: "@alice:matrix.org"}, "[]"},
		{rules.Destination{Protocol: "irc", Address: "bob"}, "[]"},
	} {
		got, err := b.dir.ChatOwners(b.ctx, tc.dest)
		if err != nil {
			t.Fatalf("%v: %v", tc.dest, err)
		}
		if fmt.Sprint(got) != tc.want && !(tc.want == "[]" && len(got) == 0) {
			t.Errorf("ChatOwners(%v) = %v, want %s", tc.dest, got, tc.want)
		}
	}
	b.fas.Fail(503)
	if _, err := b.dir.ChatOwners(b.ctx, rules.Destination{Protocol: "irc", Address: "alice"}); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("FASJSON down: err = %v, want ErrUnavailable", err)
	}
}
