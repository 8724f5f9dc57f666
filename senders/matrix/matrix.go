// Package matrix sends notifications as Matrix messages through the
// client-server API, as a bot account with an access token: one direct room
// per recipient, found or created once and then reused, remembered across
// restarts in the bot's m.direct account data as Matrix clients do;
// idempotent sends keyed by the notification id; the homeserver's rate
// limits honoured; failures classified into permanent and transient for
// senders.Run.
package matrix

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fmn-project/fmn/notification"
	"github.com/fmn-project/fmn/senders"
)

// Channel is the channel of Matrix notifications: notify.matrix.
const Channel = "matrix"

// directType is the account data event that lists a user's direct rooms.
const directType = "m.direct"

// Sender delivers Matrix notifications. It is safe for concurrent use.
//
// Only one process should send for a bot account at a time: two could each
// create a direct room for the same new recipient.
type Sender struct {
	cfg   Config
	log   *slog.Logger
	hc    *http.Client
	api   string // the homeserver's /_matrix/client/v3
	token Secret

	// resolve serialises finding and creating rooms, and the read-modify-
	// write of m.direct.
	resolve sync.Mutex

	mu     sync.Mutex
	bot    string           // the bot's user id, from whoami
	rooms  map[string]*room // by recipient
	closed bool
}

// room is the direct room of one recipient.
type room struct {
	id string
	// saved is false while the room is not yet in m.direct: it is used,
	// and saving is tried again before each send until it succeeds.
	saved bool
	// checked is when the bot and the recipient were last known in it.
	checked time.Time
}

var _ senders.Sender = (*Sender)(nil)

// New returns a sender for cfg (defaults applied, then validated). It does
// not contact the homeserver: the first Send does.
func New(cfg Config, logger *slog.Logger) (*Sender, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 8
	return &Sender{
		cfg:   cfg,
		log:   logger.With("homeserver", cfg.String()),
		hc:    &http.Client{Transport: tr, CheckRedirect: noRedirects},
		api:   cfg.Homeserver.String() + "/_matrix/client/v3",
		token: cfg.Token,
		rooms: map[string]*room{},
	}, nil
}

// noRedirects keeps the access token from following a redirect elsewhere.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Channel is "matrix".
func (s *Sender) Channel() string { return Channel }

// Close closes idle connections. Sends still running finish.
func (s *Sender) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.hc.CloseIdleConnections()
	return nil
}

// Send posts n.Line as an m.text message to the direct room of n.Address.
//
// A recipient that does not exist, an address that is not a Matrix user id,
// or a message the homeserver refuses for its content is permanent. A
// rejected access token, network errors, 5xx replies and rate limits that
// last longer than Config.MaxRateLimitWait are transient. The message's
// transaction id is derived from the notification id, so a retry after a
// lost reply does not post it twice. The error never holds the token.
func (s *Sender) Send(ctx context.Context, n *notification.Notification) error {
	return s.scrub(s.send(ctx, n))
}

func (s *Sender) send(ctx context.Context, n *notification.Notification) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return errors.New("matrix sender is closed")
	}
	if n.ID == "" {
		return senders.Permanent(errors.New("notification has no id, which its Matrix transaction id needs"))
	}
	if n.Line == "" {
		return senders.Permanent(fmt.Errorf("notification %s has no rendered line", n.ID))
	}
	user, err := parseUserID(n.Address)
	if err != nil {
		return senders.Permanent(err)
	}
	content := map[string]string{"msgtype": "m.text", "body": n.Line}
	txn := "fmn." + url.PathEscape(n.ID)
	for retried := false; ; retried = true {
		r, err := s.room(ctx, user)
		if err != nil {
			return err
		}
		var resp struct {
			EventID string `json:"event_id"`
		}
		err = s.do(ctx, http.MethodPut, "/rooms/"+url.PathEscape(r.id)+"/send/m.room.message/"+txn, content, &resp)
		if err == nil {
			s.log.Debug("notification sent", "id", n.ID, "user", user, "room", r.id, "event", resp.EventID)
			return nil
		}
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.roomGone() && !retried {
			// The bot was removed from the room, or the room is gone:
			// find or make another, once.
			s.log.Warn("direct room unusable, looking for another", "user", user, "room", r.id, "err", s.scrub(err))
			s.forget(user, r)
			continue
		}
		return s.classifySend(user, r.id, err)
	}
}

// classifySend labels a failed send.
func (s *Sender) classifySend(user, roomID string, err error) error {
	doing := fmt.Sprintf("sending to %s in room %s", user, roomID)
	var apiErr *Error
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.Code == "M_TOO_LARGE" || apiErr.Status == http.StatusRequestEntityTooLarge,
			apiErr.Code == "M_BAD_JSON", apiErr.Code == "M_NOT_JSON":
			return senders.Permanent(fmt.Errorf("%s: %w", doing, err))
		}
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// room returns the direct room of user: the one this process checked
// lately, else a usable one from m.direct, else a new one.
func (s *Sender) room(ctx context.Context, user string) (*room, error) {
	if r := s.cached(user); r != nil {
		return r, nil
	}
	s.resolve.Lock()
	defer s.resolve.Unlock()
	if r := s.cached(user); r != nil {
		return r, nil
	}
	bot, err := s.whoami(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	r := s.rooms[user]
	s.mu.Unlock()
	if r != nil && !r.saved {
		// Created earlier, not yet remembered.
		if err := s.remember(ctx, bot, user, r); err != nil {
			return nil, err
		}
		return r, nil
	}
	direct, err := s.direct(ctx, bot)
	if err != nil {
		return nil, err
	}
	known := direct[user]
	for i := len(known) - 1; i >= 0; i-- {
		ok, err := s.usable(ctx, bot, user, known[i])
		if err != nil {
			return nil, err
		}
		if ok {
			r = &room{id: known[i], saved: true, checked: time.Now()}
			s.keep(user, r)
			s.log.Debug("reusing direct room", "user", user, "room", r.id)
			return r, nil
		}
	}
	if err := s.checkUser(ctx, user); err != nil {
		return nil, err
	}
	r, err = s.create(ctx, user)
	if err != nil {
		return nil, err
	}
	s.keep(user, r)
	s.log.Info("direct room created", "user", user, "room", r.id)
	if err := s.remember(ctx, bot, user, r); err != nil {
		return nil, err
	}
	return r, nil
}

// cached is user's room when it is remembered and was checked within
// Config.RoomRecheck.
func (s *Sender) cached(user string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[user]; r != nil && r.saved && time.Since(r.checked) < s.cfg.RoomRecheck {
		return r
	}
	return nil
}

func (s *Sender) keep(user string, r *room) {
	s.mu.Lock()
	s.rooms[user] = r
	s.mu.Unlock()
}

// forget drops r as user's room in this process; m.direct keeps it, and
// the next lookup checks it again.
func (s *Sender) forget(user string, r *room) {
	s.mu.Lock()
	if s.rooms[user] == r {
		delete(s.rooms, user)
	}
	s.mu.Unlock()
}

// whoami is the bot's user id, asked once.
func (s *Sender) whoami(ctx context.Context) (string, error) {
	s.mu.Lock()
	bot := s.bot
	s.mu.Unlock()
	if bot != "" {
		return bot, nil
	}
	var resp struct {
		UserID string `json:"user_id"`
	}
	if err := s.do(ctx, http.MethodGet, "/account/whoami", nil, &resp); err != nil {
		return "", fmt.Errorf("asking the homeserver who the bot is: %w", err)
	}
	if resp.UserID == "" {
		return "", errors.New("asking the homeserver who the bot is: no user_id in the reply")
	}
	s.mu.Lock()
	s.bot = resp.UserID
	s.mu.Unlock()
	return resp.UserID, nil
}

// direct reads the bot's m.direct: user id → room ids.
func (s *Sender) direct(ctx context.Context, bot string) (map[string][]string, error) {
	direct := map[string][]string{}
	err := s.do(ctx, http.MethodGet, "/user/"+url.PathEscape(bot)+"/account_data/"+directType, nil, &direct)
	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		return map[string][]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the bot's %s account data: %w", directType, err)
	}
	return direct, nil
}

// remember adds r to user's rooms in the bot's m.direct, so that the next
// process finds it.
func (s *Sender) remember(ctx context.Context, bot, user string, r *room) error {
	direct, err := s.direct(ctx, bot)
	if err != nil {
		return fmt.Errorf("remembering room %s for %s: %w", r.id, user, err)
	}
	if !slices.Contains(direct[user], r.id) {
		direct[user] = append(direct[user], r.id)
		if err := s.do(ctx, http.MethodPut, "/user/"+url.PathEscape(bot)+"/account_data/"+directType, direct, nil); err != nil {
			return fmt.Errorf("remembering room %s for %s in the bot's %s: %w", r.id, user, directType, err)
		}
	}
	s.mu.Lock()
	r.saved = true
	s.mu.Unlock()
	return nil
}

// usable reports whether the bot is in roomID and user is invited or joined.
func (s *Sender) usable(ctx context.Context, bot, user, roomID string) (bool, error) {
	for _, who := range []string{bot, user} {
		var member struct {
			Membership string `json:"membership"`
		}
		err := s.do(ctx, http.MethodGet, "/rooms/"+url.PathEscape(roomID)+"/state/m.room.member/"+url.PathEscape(who), nil, &member)
		var apiErr *Error
		if errors.As(err, &apiErr) && (apiErr.Status == http.StatusForbidden || apiErr.Status == http.StatusNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("checking direct room %s of %s: %w", roomID, user, err)
		}
		switch {
		case who == bot && member.Membership != "join":
			return false, nil
		case who == user && member.Membership != "join" && member.Membership != "invite":
			s.log.Info("recipient left the direct room, making a new one", "user", user, "room", roomID, "membership", member.Membership)
			return false, nil
		}
	}
	return true, nil
}

// checkUser asks for user's profile before a room is made for them: a 404
// means there is no such user, which no retry fixes. Homeservers that
// restrict profile lookups answer otherwise; then the invite decides.
func (s *Sender) checkUser(ctx context.Context, user string) error {
	err := s.do(ctx, http.MethodGet, "/profile/"+url.PathEscape(user), nil, nil)
	var apiErr *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound:
		return senders.Permanent(fmt.Errorf("Matrix user %s does not exist: %w", user, err)) //nolint:staticcheck // ST1005: a name
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized:
		return fmt.Errorf("looking up Matrix user %s: %w", user, err)
	}
	s.log.Debug("profile lookup inconclusive, inviting anyway", "user", user, "err", s.scrub(err))
	return nil
}

// create makes a direct room with user invited.
func (s *Sender) create(ctx context.Context, user string) (*room, error) {
	req := map[string]any{
		"is_direct": true,
		"invite":    []string{user},
		"preset":    "trusted_private_chat",
	}
	var resp struct {
		RoomID string `json:"room_id"`
	}
	err := s.do(ctx, http.MethodPost, "/createRoom", req, &resp)
	var apiErr *Error
	switch {
	case err == nil && resp.RoomID != "":
		return &room{id: resp.RoomID, checked: time.Now()}, nil
	case err == nil:
		return nil, fmt.Errorf("creating a direct room for %s: no room_id in the reply", user)
	case errors.As(err, &apiErr) && (apiErr.Status == http.StatusForbidden || apiErr.Status == http.StatusNotFound ||
		apiErr.Code == "M_INVALID_PARAM" || apiErr.Code == "M_BAD_JSON"):
		// The invite was refused: no such user, a server that cannot be
		// reached by federation, a user id the homeserver rejects.
		return nil, senders.Permanent(fmt.Errorf("inviting %s to a direct room: %w", user, err))
	}
	return nil, fmt.Errorf("creating a direct room for %s: %w", user, err)
}

// Error is a refusal by the homeserver: the request and the standard error
// response ("403 M_FORBIDDEN: You are not invited to this room").
type Error struct {
	Method string
	// Path is below /_matrix/client/v3.
	Path    string
	Status  int
	Code    string // errcode, e.g. M_FORBIDDEN
	Message string // error
}

func (e *Error) Error() string {
	text := fmt.Sprintf("%s %s: %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		text += " " + e.Code
	}
	if e.Message != "" {
		text += ": " + strings.Join(strings.Fields(e.Message), " ")
	}
	if e.Status == http.StatusUnauthorized {
		text += " (the homeserver refused the access token: check FMN_MATRIX_TOKEN)"
	}
	return text
}

// roomGone reports a send that failed because of the room, not the
// message: the bot is not in it (403) or it does not exist.
func (e *Error) roomGone() bool {
	return e.Status == http.StatusForbidden || e.Status == http.StatusNotFound ||
		e.Code == "M_UNSUPPORTED_ROOM_VERSION" // Dendrite's answer for an unknown room
}

// RateLimitError is a rate limit that lasts longer than Send may wait. It is
// transient; RetryAfter is when the homeserver said to come back.
type RateLimitError struct {
	RetryAfter time.Duration
	Err        *Error
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%v (rate limited: retry after %s)", e.Err, e.RetryAfter)
}

func (e *RateLimitError) Unwrap() error { return e.Err }

// RetryHint makes senders.Run wait at least the homeserver's retry_after.
func (e *RateLimitError) RetryHint() time.Duration { return e.RetryAfter }

// do sends one request with the access token, waiting out rate limits for
// at most Config.MaxRateLimitWait in all, and decodes the reply into out
// (unless nil). A refusal is an *Error, or a *RateLimitError.
func (s *Sender) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	waited := time.Duration(0)
	for {
		err := s.once(ctx, method, path, body, out)
		var rl *RateLimitError
		if !errors.As(err, &rl) {
			return err
		}
		if waited+rl.RetryAfter > s.cfg.MaxRateLimitWait {
			return err
		}
		s.log.Debug("rate limited, waiting", "method", method, "path", path, "retry_after", rl.RetryAfter)
		t := time.NewTimer(rl.RetryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting out a rate limit: %w (%w)", context.Cause(ctx), err)
		case <-t.C:
		}
		waited += rl.RetryAfter
	}
}

// defaultRetryAfter is the wait after M_LIMIT_EXCEEDED without a delay.
const defaultRetryAfter = time.Second

// once makes one request.
func (s *Sender) once(ctx context.Context, method, path string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.api+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+string(s.token))
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("%s %s at %s: %w", method, path, s.cfg.Homeserver.Host, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the reply: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: reply is not the expected JSON: %w", method, path, err)
		}
		return nil
	}
	var e struct {
		Code         string `json:"errcode"`
		Message      string `json:"error"`
		RetryAfterMS int64  `json:"retry_after_ms"`
	}
	_ = json.Unmarshal(data, &e)
	apiErr := &Error{Method: method, Path: path, Status: resp.StatusCode, Code: e.Code, Message: e.Message}
	if apiErr.Code == "" && apiErr.Message == "" && resp.StatusCode >= 500 {
		apiErr.Message = http.StatusText(resp.StatusCode)
	}
	if resp.StatusCode == http.StatusTooManyRequests || e.Code == "M_LIMIT_EXCEEDED" {
		wait := time.Duration(e.RetryAfterMS) * time.Millisecond
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && wait == 0 {
			wait = time.Duration(secs) * time.Second
		}
		if wait <= 0 {
			wait = defaultRetryAfter
		}
		return &RateLimitError{RetryAfter: wait, Err: apiErr}
	}
	return apiErr
}

// scrub removes the access token from err's text: a homeserver or a proxy
// may echo what it was sent.
func (s *Sender) scrub(err error) error { return senders.Scrub(err, string(s.token)) }

// parseUserID checks a Matrix user id, @localpart:server.
func parseUserID(address string) (string, error) {
	local, server, ok := strings.Cut(strings.TrimPrefix(address, "@"), ":")
	switch {
	case !strings.HasPrefix(address, "@") || !ok || local == "" || server == "",
		len(address) > 255,
		strings.IndexFunc(address, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return "", fmt.Errorf("recipient %q is not a Matrix user id (@username:server.tld)", address)
	}
	return address, nil
}
