package distgit_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fmn-project/fmn/distgit"
	"github.com/fmn-project/fmn/fmntest"
	"github.com/fmn-project/fmn/rules"
)

type bundle struct {
	ctx context.Context
	dg  *fmntest.DistGit
	c   *distgit.Client
}

func setup(t *testing.T) *bundle {
	t.Helper()
	dg := fmntest.StartDistGit(t)
	c, err := distgit.New(distgit.Config{URL: dg.URL, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dg.AddProject("rpms", "python-requests", "alice")
	dg.SetUserAccess("rpms", "python-requests", "bob", "commit")
	dg.SetGroupAccess("rpms", "python-requests", "python-sig", "admin")
	dg.AddProject("container", "fedora-toolbox", "alice")
	dg.AddProject("modules", "nodejs", "carol")
	dg.SetUserAccess("modules", "nodejs", "alice", "collaborator")
	dg.AddProject("flatpaks", "firefox", "carol")
	dg.SetUserAccess("flatpaks", "firefox", "alice", "ticket")
	dg.SetGroupAccess("flatpaks", "firefox", "python-sig", "ticket")
	dg.AddProject("tests", "python-requests", "alice")
	return &bundle{ctx: fmntest.Context(t), dg: dg, c: c}
}

func names(ps []distgit.Project) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	slices.Sort(out)
	return out
}

func TestClient(t *testing.T) {
	t.Parallel()

	t.Run("project access", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		p, err := b.c.Project(b.ctx, "rpms", "python-requests")
		if err != nil {
			t.Fatal(err)
		}
		if !p.UserOwns("alice") || !p.UserOwns("bob") || p.UserOwns("carol") || !p.GroupOwns("python-sig") {
			t.Fatalf("%+v", p)
		}
		if p.FullURL != b.dg.URL+"/rpms/python-requests" {
			t.Fatalf("full_url %q", p.FullURL)
		}
		if a, ok := p.Artifact(); !ok || a != (rules.Artifact{Type: rules.ArtifactRPMs, Name: "python-requests"}) {
			t.Fatalf("artifact %+v %v", a, ok)
		}
	})

	t.Run("unknown project is not found", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if _, err := b.c.Project(b.ctx, "rpms", "nope"); !errors.Is(err, distgit.ErrNotFound) {
			t.Fatalf("error %v", err)
		}
	})

	t.Run("projects of a user, every page, ticket-only included for the caller to filter", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ps, err := b.c.UserProjects(b.ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"container/fedora-toolbox", "flatpaks/firefox", "modules/nodejs", "rpms/python-requests", "tests/python-requests"}
		if got := names(ps); !slices.Equal(got, want) {
			t.Fatalf("got %v", got)
		}
		if n := b.dg.CallsTo("/api/0/projects"); n != 3 {
			t.Fatalf("%d calls, want 3 pages", n)
		}
		for _, p := range ps {
			if owns := p.UserOwns("alice"); owns == (p.Namespace == "flatpaks") {
				t.Errorf("%s/%s: UserOwns %v", p.Namespace, p.Name, owns)
			}
		}
	})

	t.Run("projects of a group", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ps, err := b.c.GroupProjects(b.ctx, "python-sig")
		if err != nil {
			t.Fatal(err)
		}
		if got := names(ps); !slices.Equal(got, []string{"flatpaks/firefox", "rpms/python-requests"}) {
			t.Fatalf("got %v", got)
		}
		if _, err := b.c.GroupProjects(b.ctx, "nogroup"); !errors.Is(err, distgit.ErrNotFound) {
			t.Fatalf("unknown group: %v", err)
		}
	})

	t.Run("search by pattern", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ps, err := b.c.SearchProjects(b.ctx, "f*", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(ps); !slices.Equal(got, []string{"container/fedora-toolbox", "flatpaks/firefox"}) {
			t.Fatalf("got %v", got)
		}
		ps, err = b.c.SearchProjects(b.ctx, "*", "rpms", 1)
		if err != nil || len(ps) != 1 {
			t.Fatalf("%v %v", err, ps)
		}
	})

	t.Run("an outage is unavailable after retries", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.dg.Fail(503)
		_, err := b.c.UserProjects(b.ctx, "alice")
		if !errors.Is(err, distgit.ErrUnavailable) || b.dg.Calls() != 3 {
			t.Fatalf("error %v after %d calls", err, b.dg.Calls())
		}
	})

	t.Run("redirects are followed", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		c, err := distgit.New(distgit.Config{URL: b.dg.URL + "/moved/"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Project(b.ctx, "modules", "nodejs")
		if err != nil || p.Name != "nodejs" {
			t.Fatalf("%v %+v", err, p)
		}
	})
}

func TestArtifactType(t *testing.T) {
	t.Parallel()
	for ns, want := range map[string]string{
		"rpms": rules.ArtifactRPMs, "container": rules.ArtifactContainers, "containers": rules.ArtifactContainers,
		"modules": rules.ArtifactModules, "flatpaks": rules.ArtifactFlatpaks, "tests": "",
	} {
		got, ok := distgit.ArtifactType(ns)
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q %v", ns, got, ok)
		}
	}
}
