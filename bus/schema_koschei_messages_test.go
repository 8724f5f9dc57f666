package bus

import (
	"fmt"
	"testing"
)

// The expected values are what the Python classes compute, except where
// raises says Python raises: then they are what fmn derives. Both classes
// use the summary as the text.
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
	tests := []schemaCase{
		{name: "package unresolved", schema: pkg,
			body: fmt.Sprintf(pkgBody, `"primary"`, `"unresolved"`),
			want: schemaWant{App: "Koschei", Summary: "rust-tokio's dependencies failed to resolve in f37", URL: pkgURL,
				Groups: []string{"python-sig", "rust-sig"}, Packages: []string{"rust-tokio"}}},
		{name: "package failing on another instance", schema: pkg,
			body: fmt.Sprintf(pkgBody, `"staging"`, `"failing"`),
			want: schemaWant{App: "Koschei", Summary: "rust-tokio's builds started to fail in f37 (staging)", URL: pkgURL,
				Groups: []string{"python-sig", "rust-sig"}, Packages: []string{"rust-tokio"}}},
		{name: "package state the summary does not know", schema: pkg,
			body:   fmt.Sprintf(pkgBody, `"primary"`, `"blocked"`),
			raises: "summary, str: KeyError 'blocked'",
			want: schemaWant{App: "Koschei", Summary: "rust-tokio's state changed from ok to blocked in f37", URL: pkgURL,
				Groups: []string{"python-sig", "rust-sig"}, Packages: []string{"rust-tokio"}}},
		{name: "collection fixed", schema: coll,
			body: fmt.Sprintf(collBody, `"primary"`, `"ok"`),
			want: schemaWant{App: "Koschei", Summary: "Fedora 37 buildroot was fixed", URL: collURL}},
		{name: "collection state the summary does not know", schema: coll,
			body:   fmt.Sprintf(collBody, `"s390"`, `"failing"`),
			raises: "summary, str: KeyError 'failing'",
			want: schemaWant{App: "Koschei", Summary: "Fedora 37 buildroot state changed from unresolved to failing (s390)",
				URL: collURL}},
	}
	for i, c := range tests {
		tests[i] = c.strIsSummary()
	}
	schemaRun(t, tests)
}
