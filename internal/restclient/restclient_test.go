package restclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fmn-project/fmn/internal/restclient"
)

type bundle struct {
	srv   *httptest.Server
	calls atomic.Int64
	auth  atomic.Value // last Authorization header
}

// setup serves handler, counting requests and remembering the last
// Authorization header.
func setup(t *testing.T, handler http.HandlerFunc) *bundle {
	t.Helper()
	b := &bundle{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.calls.Add(1)
		b.auth.Store(r.Header.Get("Authorization"))
		handler(w, r)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *bundle) client(t *testing.T, cfg restclient.Config) *restclient.Client {
	t.Helper()
	if cfg.BaseURL == "" {
		cfg.BaseURL = b.srv.URL
	}
	cfg.Service = "test service"
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Millisecond
	}
	c, err := restclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

func TestGetJSON(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("decodes the answer", func(t *testing.T) {
		t.Parallel()
		b := setup(t, status(200, `{"result": {"username": "alice"}}`))
		var out struct {
			Result struct{ Username string } `json:"result"`
		}
		if err := b.client(t, restclient.Config{}).GetJSON(ctx, "/v1/users/alice/", nil, &out); err != nil {
			t.Fatal(err)
		}
		if out.Result.Username != "alice" {
			t.Fatalf("got %+v", out)
		}
	})

	// Which answers are retried, and what the caller is told.
	for _, tc := range []struct {
		name      string
		handler   http.HandlerFunc
		wantCalls int64
		want      error
	}{
		{"404 is not found, asked once", status(404, `{"message": "User does not exist"}`), 1, restclient.ErrNotFound},
		{"500 is retried, then unavailable", status(500, `{}`), 3, restclient.ErrUnavailable},
		{"503 is retried, then unavailable", status(503, `{}`), 3, restclient.ErrUnavailable},
		{"429 is retried like a 5xx", status(429, `{}`), 3, restclient.ErrUnavailable},
		{"400 is not retried", status(400, `{"error": "Invalid pattern"}`), 1, nil},
		{"403 is not retried", status(403, `{"message": "Forbidden"}`), 1, nil},
		{"invalid JSON is not retried", status(200, `{"result": `), 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tc.handler)
			var out map[string]any
			err := b.client(t, restclient.Config{}).GetJSON(ctx, "/x", nil, &out)
			if err == nil {
				t.Fatal("no error")
			}
			if got := b.calls.Load(); got != tc.wantCalls {
				t.Errorf("%d calls, want %d", got, tc.wantCalls)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if errors.Is(err, restclient.ErrUnavailable) != errors.Is(tc.want, restclient.ErrUnavailable) {
				t.Errorf("error %v: unavailable %v", err, errors.Is(err, restclient.ErrUnavailable))
			}
			if errors.Is(err, restclient.ErrNotFound) != errors.Is(tc.want, restclient.ErrNotFound) {
				t.Errorf("error %v: not found %v", err, errors.Is(err, restclient.ErrNotFound))
			}
		})
	}

	t.Run("a 500 then a 200 succeeds", func(t *testing.T) {
		t.Parallel()
		var n atomic.Int64
		b := setup(t, func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				status(502, "")(w, r)
				return
			}
			status(200, `{"ok": true}`)(w, r)
		})
		var out struct{ OK bool }
		if err := b.client(t, restclient.Config{}).GetJSON(ctx, "/x", nil, &out); err != nil || !out.OK {
			t.Fatalf("%v %+v", err, out)
		}
		if b.calls.Load() != 2 {
			t.Fatalf("%d calls", b.calls.Load())
		}
	})

	t.Run("a timeout is retried, then unavailable", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		b := setup(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		defer close(release)
		var out any
		err := b.client(t, restclient.Config{Timeout: 500 * time.Millisecond, Attempts: 2}).GetJSON(ctx, "/slow", nil, &out)
		if !errors.Is(err, restclient.ErrUnavailable) || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("error %v", err)
		}
		if b.calls.Load() != 2 {
			t.Fatalf("%d calls", b.calls.Load())
		}
	})

	t.Run("a refused connection is unavailable", func(t *testing.T) {
		t.Parallel()
		b := setup(t, status(200, `{}`))
		c := b.client(t, restclient.Config{Attempts: 2})
		b.srv.Close()
		var out any
		if err := c.GetJSON(ctx, "/x", nil, &out); !errors.Is(err, restclient.ErrUnavailable) {
			t.Fatalf("error %v", err)
		}
	})

	t.Run("a cancelled context stops the retries", func(t *testing.T) {
		t.Parallel()
		b := setup(t, status(500, `{}`))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		var out any
		err := b.client(t, restclient.Config{Attempts: 100, Backoff: time.Hour}).GetJSON(cctx, "/x", nil, &out)
		if !errors.Is(err, context.Canceled) || b.calls.Load() > 1 {
			t.Fatalf("error %v after %d calls", err, b.calls.Load())
		}
	})
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("followed, credentials kept on the same host", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/old/x" {
				http.Redirect(w, r, "/new/x?"+r.URL.RawQuery, http.StatusPermanentRedirect)
				return
			}
			status(200, `{"path": "`+r.URL.Path+`"}`)(w, r)
		})
		var out struct{ Path string }
		c := b.client(t, restclient.Config{Auth: restclient.Bearer("s3cret-token")})
		if err := c.GetJSON(ctx, "/old/x", nil, &out); err != nil {
			t.Fatal(err)
		}
		if out.Path != "/new/x" || b.calls.Load() != 2 {
			t.Fatalf("%+v after %d calls", out, b.calls.Load())
		}
		if got := b.auth.Load(); got != "Bearer s3cret-token" {
			t.Fatalf("Authorization after redirect: %q", got)
		}
	})

	t.Run("credentials dropped on another host", func(t *testing.T) {
		t.Parallel()
		other := setup(t, status(200, `{}`))
		b := setup(t, func(w http.ResponseWriter, r *http.Request) {
			// 127.0.0.1 and localhost are different hosts to net/http.
			to := strings.Replace(other.srv.URL, "127.0.0.1", "localhost", 1)
			http.Redirect(w, r, to+"/x", http.StatusFound)
		})
		var out any
		c := b.client(t, restclient.Config{Auth: restclient.Bearer("s3cret-token")})
		if err := c.GetJSON(ctx, "/x", nil, &out); err != nil {
			t.Fatal(err)
		}
		if got := other.auth.Load(); got != "" {
			t.Fatalf("the other host got Authorization %q", got)
		}
	})
}

func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, code := range []int{401, 404, 500} {
		b := setup(t, status(code, `{"message": "no"}`))
		u := strings.Replace(b.srv.URL, "http://", "http://fmn:pa55word@", 1)
		c := b.client(t, restclient.Config{BaseURL: u})
		var out any
		err := c.GetJSON(ctx, "/x", nil, &out)
		if err == nil {
			t.Fatalf("%d: no error", code)
		}
		if strings.Contains(err.Error(), "pa55word") {
			t.Errorf("%d: error shows the password: %v", code, err)
		}
		if got, _ := b.auth.Load().(string); !strings.HasPrefix(got, "Basic ") {
			t.Errorf("%d: URL credentials not sent as basic auth: %q", code, got)
		}
		if strings.Contains(c.Base(), "pa55word") {
			t.Errorf("Base shows the password: %s", c.Base())
		}
	}
	b := setup(t, status(500, `{}`))
	c := b.client(t, restclient.Config{Auth: restclient.Bearer("tok-123")})
	var out any
	if err := c.GetJSON(ctx, "/x", nil, &out); err == nil || strings.Contains(err.Error(), "tok-123") {
		t.Errorf("error %v", err)
	}
	for _, a := range []restclient.Auth{restclient.Bearer("tok-123"), restclient.Basic{User: "u", Password: "tok-123"}} {
		if s := a.(interface{ String() string }).String(); strings.Contains(s, "tok-123") {
			t.Errorf("%T prints its secret: %s", a, s)
		}
	}
}
