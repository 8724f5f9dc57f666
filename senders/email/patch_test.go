package email_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fmn-project/fmn/fmntest"
)

// A dist-git push carries a patch_url: the email gets the patch before its
// signature, as FMN's; when the patch cannot be fetched the email goes
// anyway and says why.
func TestPatchAppended(t *testing.T) {
	t.Parallel()
	patch := "From 1234 Mon Sep 17 00:00:00 2001\nFrom: Alice <alice@example.org>\nSubject: [PATCH] Update to 1.2\n\n--- a/foo.spec\n+++ b/foo.spec\n@@ -1 +1 @@\n-Version: 1.1\n+Version: 1.2\n"
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/rpms/foo/c/abc.patch":
			_, _ = w.Write([]byte(patch))
		case "/slow.patch":
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
		case "/big.patch":
			for i := 0; i < 5000; i++ {
				_, _ = w.Write([]byte("+ a line of a large patch that goes on and on\n"))
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	r := fmntest.StartSMTP(t, relayUser, relayPass)
	cfg := config(t, r.Addr(), "smtp", relayUser+":"+relayPass+"@", "patch_timeout=500ms&patch_max_bytes=4096")
	s := newSender(t, cfg, nil)

	send := func(id, patchURL string) parsed {
		t.Helper()
		n := sample(id, "alice@example.org")
		n.Email.PatchURL = patchURL
		if err := s.Send(fmntest.Context(t), n); err != nil {
			t.Fatalf("Send(%s): %v", patchURL, err)
		}
		mails := r.Mails()
		return parse(t, mails[len(mails)-1].Data)
	}
	const sig = "\r\n\r\n-- \r\nSent by fmn: https://fmn.example.org/rules/12"

	t.Run("fetched", func(t *testing.T) {
		m := send("p1", srv.URL+"/rpms/foo/c/abc.patch")
		want := "https://bodhi.fedoraproject.org/updates/FEDORA-2024-1\r\n\r\n" + strings.TrimSuffix(crlf(patch), "\r\n") + sig
		if !strings.Contains(m.body, want) {
			t.Errorf("body does not end with the patch before the signature:\n%s", m.body)
		}
		// A second recipient of the same push: the patch comes from the cache.
		before := hits.Load()
		send("p2", srv.URL+"/rpms/foo/c/abc.patch")
		if hits.Load() != before {
			t.Errorf("patch fetched again for a second recipient")
		}
	})
	t.Run("not found", func(t *testing.T) {
		m := send("p3", srv.URL+"/missing.patch")
		if !strings.Contains(m.body, "[The patch could not be fetched from "+srv.URL+"/missing.patch: the server answered 404 Not Found.]"+sig) {
			t.Errorf("body:\n%s", m.body)
		}
	})
	t.Run("too slow", func(t *testing.T) {
		start := time.Now()
		m := send("p4", srv.URL+"/slow.patch")
		if !strings.Contains(m.body, "the server did not answer in time.]") {
			t.Errorf("body:\n%s", m.body)
		}
		if d := time.Since(start); d > fmntest.Scaled(2500*time.Millisecond) {
			t.Errorf("the fetch took %s despite patch_timeout=500ms", d)
		}
	})
	t.Run("too large", func(t *testing.T) {
		m := send("p5", srv.URL+"/big.patch")
		if !strings.Contains(m.body, "[… patch truncated at 4 KiB: "+srv.URL+"/big.patch]") || len(m.body) > 8000 {
			t.Errorf("body of %d bytes:\n%.600s", len(m.body), m.body)
		}
	})
	t.Run("not http", func(t *testing.T) {
		m := send("p6", "file:///etc/passwd")
		if !strings.Contains(m.body, "it is not an http(s) URL.]") || strings.Contains(m.body, "root:") {
			t.Errorf("body:\n%s", m.body)
		}
	})
}
