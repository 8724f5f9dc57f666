package bus

import (
	"fmt"
	"slices"
	"testing"
)

func TestKoschei(t *testing.T) {
	t.Parallel()
	const (
		pkg     = "koschei.package.state.change"
		coll    = "koschei.collection.state.change"
		pkgBody = `{"collection": "f37", "collection_name": "Fedora 37", "groups": ["rust-sig", "python-sig"],
			"koji_instance": %s, "name": "rust-tokio", "new": %s, "old": "ok"}`
		collBody = `{"collection": "f37", "collection_name": "Fedora 37", "koji_instance": %s, "new": %s,
			"old": "unresolved", "repo_id": "f37"}`
		pkgURL  = "https://koschei.fedoraproject.org/package/rust-tokio?collection=f37"
		collURL = "https://koschei.fedoraproject.org/collection/f37"
	)
	tests := []struct {
		name, schema, body, summary, url string
		groups, packages                 []string
		raises                           string
	}{{
		name: "package unresolved", schema: pkg, body: fmt.Sprintf(pkgBody, `"primary"`, `"unresolved"`),
		summary: "rust-tokio's dependencies failed to resolve in f37", url: pkgURL,
		groups: []string{"python-sig", "rust-sig"}, packages: []string{"rust-tokio"},
	}, {
		name: "package failing on another instance", schema: pkg, body: fmt.Sprintf(pkgBody, `"staging"`, `"failing"`),
		summary: "rust-tokio's builds started to fail in f37 (staging)", url: pkgURL,
		groups: []string{"python-sig", "rust-sig"}, packages: []string{"rust-tokio"},
	}, {
		name: "package state the summary does not know", schema: pkg, body: fmt.Sprintf(pkgBody, `"primary"`, `"blocked"`),
		summary: "rust-tokio's state changed from ok to blocked in f37", url: pkgURL,
		groups: []string{"python-sig", "rust-sig"}, packages: []string{"rust-tokio"},
		raises: "summary, str: KeyError 'blocked'",
	}, {
		name: "collection fixed", schema: coll, body: fmt.Sprintf(collBody, `"primary"`, `"ok"`),
		summary: "Fedora 37 buildroot was fixed", url: collURL,
	}, {
		name: "collection state the summary does not know", schema: coll, body: fmt.Sprintf(collBody, `"s390"`, `"failing"`),
		summary: "Fedora 37 buildroot state changed from unresolved to failing (s390)", url: collURL,
		raises: "summary, str: KeyError 'failing'",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, "org.fedoraproject.prod."+tt.schema, hdr(HeaderSchema, tt.schema), tt.body)
			if tt.raises != "" {
				t.Logf("Python raises (%s); fmn derives these values", tt.raises)
			}
			if p.ExtractError != "" {
				t.Fatalf("extract error: %s", p.ExtractError)
			}
			if p.App != "Koschei" || p.Agent != "" || len(p.Usernames) != 0 {
				t.Errorf("app %q, agent %q, usernames %q", p.App, p.Agent, p.Usernames)
			}
			if p.Summary != tt.summary || p.DisplayText() != tt.summary {
				t.Errorf("summary %q, text %q, want %q", p.Summary, p.DisplayText(), tt.summary)
			}
			if p.URL != tt.url {
				t.Errorf("url = %q, want %q", p.URL, tt.url)
			}
			if !slices.Equal(p.Groups, tt.groups) || !slices.Equal(p.Packages, tt.packages) {
				t.Errorf("groups %q, packages %q, want %q, %q", p.Groups, p.Packages, tt.groups, tt.packages)
			}
		})
	}
}
