package live

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// ErrNotReady: the hub does not follow NOTIFY yet (→ 503).
var ErrNotReady = errors.New("the live feed is starting")

// Serve writes user's feed to w as server-sent events until ctx ends, the
// client goes away or the stream falls behind (the browser then
// reconnects). Each event is one notification: "id:" its NOTIFY sequence,
// "data:" the Item as JSON. With resume, it first sends every notification
// stored after sequence after, then the live ones, none twice. A comment
// line every Heartbeat keeps proxies from closing an idle stream. The
// caller has checked who may read the feed.
func (h *Hub) Serve(ctx context.Context, w http.ResponseWriter, user string, after uint64, resume bool) error {
	select {
	case <-h.ready:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Second):
		return ErrNotReady
	}
	// Subscribed before the history is read: what is stored meanwhile
	// arrives through the subscription, and what both bring is sent once.
	sub := h.Subscribe(user)
	defer sub.Close()

	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// net/http buffers the response (4 KiB): every write below goes to
	// that buffer, and flush sends it.
	buffered := 0
	bw := stringWriter{w, &buffered}
	flush := func() error {
		buffered = 0
		_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
		return rc.Flush()
	}
	// The browser waits 2s before it reconnects; a first comment sends the
	// headers now, so that the client knows the stream is open.
	_, _ = bw.WriteString("retry: 2000\n: open\n\n")
	if err := flush(); err != nil {
		return err
	}
	sent := after
	write := func(ev Event) error {
		if ev.Seq <= sent {
			return nil
		}
		sent = ev.Seq
		// A bufio.Writer keeps its first error: the last write returns it.
		_, _ = bw.WriteString("id: ")
		_, _ = bw.WriteString(strconv.FormatUint(ev.Seq, 10))
		_, _ = bw.WriteString("\ndata: ")
		_, _ = bw.Write(ev.Data)
		_, err := bw.WriteString("\n\n")
		return err
	}
	if resume {
		_, err := h.Since(ctx, user, after, func(ev Event) error {
			if err := write(ev); err != nil {
				return err
			}
			if buffered > 3072 {
				return flush()
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := flush(); err != nil {
			return err
		}
	} else {
		// Live only: nothing before the subscription.
		sent = 0
	}
	tick := time.NewTicker(h.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-sub.C():
			if !ok {
				return nil // fell behind: the browser reconnects and catches up
			}
			if err := write(ev); err != nil {
				return err
			}
			// Send what else is queued in the same write.
			for more := true; more; {
				select {
				case ev, ok := <-sub.C():
					if !ok {
						return flush()
					}
					if err := write(ev); err != nil {
						return err
					}
				default:
					more = false
				}
			}
			if err := flush(); err != nil {
				return err
			}
		case <-tick.C:
			_, _ = bw.WriteString(": heartbeat\n\n") // flush returns its error
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// stringWriter writes to an http.ResponseWriter and counts what is not
// flushed yet.
type stringWriter struct {
	w io.Writer
	n *int
}

func (s stringWriter) WriteString(v string) (int, error) {
	n, err := io.WriteString(s.w, v)
	*s.n += n
	return n, err
}

func (s stringWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	*s.n += n
	return n, err
}
