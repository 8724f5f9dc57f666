package email

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fmn-project/fmn/notification"
)

// Patches of dist-git pushes: FMN appends the commit's patch (the
// message's patch_url) to the email. The sender fetches it, not the
// matcher, so that matching never waits on dist-git; with a timeout and a
// size cap, and a short cache because one push notifies many people. When
// the fetch fails the email goes without the patch and says so.

// Defaults of the patch fetch.
const (
	DefaultPatchTimeout  = 10 * time.Second // FMN's
	DefaultPatchMaxBytes = 512 << 10
	patchCacheTTL        = 5 * time.Minute
	patchCacheSize       = 128
)

type patchResult struct {
	text    string
	failure string // why there is no patch; "" when text is the patch
	at      time.Time
}

type patchFetcher struct {
	client   *http.Client
	maxBytes int

	mu    sync.Mutex
	cache map[string]patchResult
}

func newPatchFetcher(timeout time.Duration, maxBytes int, transport http.RoundTripper) *patchFetcher {
	if timeout <= 0 {
		timeout = DefaultPatchTimeout
	}
	if maxBytes <= 0 {
		maxBytes = DefaultPatchMaxBytes
	}
	return &patchFetcher{
		client: &http.Client{Timeout: timeout, Transport: transport, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to a %s URL", req.URL.Scheme)
			}
			return nil
		}},
		maxBytes: maxBytes,
		cache:    map[string]patchResult{},
	}
}

// get returns the patch at u, or why it has none. Answers are kept for a
// few minutes (failures too, so that a dist-git outage costs one timeout
// per push, not one per recipient).
func (f *patchFetcher) get(ctx context.Context, u string) patchResult {
	now := time.Now()
	f.mu.Lock()
	if r, ok := f.cache[u]; ok && now.Sub(r.at) < patchCacheTTL {
		f.mu.Unlock()
		return r
	}
	f.mu.Unlock()
	r := f.fetch(ctx, u)
	r.at = now
	if ctx.Err() != nil {
		return r // interrupted: not an answer about the patch
	}
	f.mu.Lock()
	if len(f.cache) >= patchCacheSize {
		for k, old := range f.cache {
			if now.Sub(old.at) >= patchCacheTTL || len(f.cache) >= patchCacheSize {
				delete(f.cache, k)
			}
		}
	}
	f.cache[u] = r
	f.mu.Unlock()
	return r
}

func (f *patchFetcher) fetch(ctx context.Context, u string) patchResult {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return patchResult{failure: "it is not an http(s) URL"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pu.String(), nil)
	if err != nil {
		return patchResult{failure: "it is not a valid URL"}
	}
	req.Header.Set("Accept", "text/plain, text/x-patch, */*;q=0.5")
	resp, err := f.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the email already
		}
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
			return patchResult{failure: "the server did not answer in time"}
		}
		return patchResult{failure: "the request failed: " + err.Error()}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return patchResult{failure: "the server answered " + resp.Status}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(f.maxBytes)+1))
	if err != nil {
		return patchResult{failure: "reading it failed: " + err.Error()}
	}
	text := string(data)
	truncated := len(data) > f.maxBytes
	if truncated {
		text = text[:f.maxBytes]
		for len(text) > 0 && !utf8.RuneStart(text[len(text)-1]) {
			text = text[:len(text)-1]
		}
		if i := strings.LastIndexByte(text, '\n'); i > 0 {
			text = text[:i+1]
		}
	}
	text = strings.ToValidUTF8(text, "\uFFFD")
	if truncated {
		text += fmt.Sprintf("\n[… patch truncated at %d KiB: %s]\n", f.maxBytes>>10, u)
	}
	return patchResult{text: text}
}

// withPatch returns the email body with the patch (or the reason there is
// none) before the signature: FMN's "<text>\n<url>\n\n<patch>\n".
func withPatch(body, u string, r patchResult) string {
	add := "\n" + r.text
	if r.failure != "" {
		add = "\n[The patch could not be fetched from " + u + ": " + r.failure + ".]"
	}
	if !strings.HasSuffix(add, "\n") {
		add += "\n"
	}
	add = strings.TrimRight(add, "\n")
	if i := strings.LastIndex(body, notification.SignatureSeparator); i >= 0 {
		return body[:i] + "\n" + add + body[i:]
	}
	return body + "\n" + add + "\n"
}
