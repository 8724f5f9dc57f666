package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/fmn-project/fmn/live"
)

// NotificationHandlers serve a user's live feed (the sse channel): its
// history, the tickets that open a stream, and the stream.
type NotificationHandlers struct {
	s       *Server
	hub     *live.Hub
	tickets *live.Tickets
	open    streamCounter
}

// streamCounter counts the live streams open per user, so that one user
// (or a script of theirs) cannot hold every connection of the process.
type streamCounter struct {
	max    int
	mu     sync.Mutex
	byUser map[string]int
}

// full says whether user has max streams open already.
func (c *streamCounter) full(user string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byUser[user] >= c.max
}

// acquire counts a stream of user, or says false when user has max open.
func (c *streamCounter) acquire(user string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byUser[user] >= c.max {
		return false
	}
	if c.byUser == nil {
		c.byUser = map[string]int{}
	}
	c.byUser[user]++
	return true
}

func (c *streamCounter) release(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byUser[user]--; c.byUser[user] <= 0 {
		delete(c.byUser, user)
	}
}

// tooManyStreams is the answer to a stream past the per-user bound.
func tooManyStreams(user string, max int) error {
	return huma.ErrorWithHeaders(huma.NewError(http.StatusTooManyRequests, fmt.Sprintf(
		"%s has %d live streams open already, the most one user may have: close one (another tab or window) and try again.", user, max)),
		http.Header{"Retry-After": {"30"}})
}

// RegisterNotifications adds the live feed's operations: hub fans out the
// notifications, tickets let a browser open its stream.
func (s *Server) RegisterNotifications(hub *live.Hub, tickets *live.Tickets) {
	(&NotificationHandlers{s: s, hub: hub, tickets: tickets, open: streamCounter{max: s.cfg.MaxStreamsPerUser}}).Register(s.api)
}

type ticketOutput struct {
	Body struct {
		Ticket    string `json:"ticket" doc:"Pass it as ?ticket= to the stream, once."`
		ExpiresIn int    `json:"expires_in" doc:"Seconds the ticket stays valid." example:"30"`
	}
}

type feedInput struct {
	Username string `path:"username" maxLength:"255" doc:"Whose feed: must be you." example:"alice"`
	Limit    int    `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"How many notifications, the most recent first."`
}

// FeedItem is a notification of the live feed: the notification as the
// senders see it, with "seq", its NOTIFY sequence (the event id of the
// stream), "line", its one-line form, and "rule_id", the rule that
// produced it.
type FeedItem = json.RawMessage

type feedOutput struct {
	Body []FeedItem
}

type streamInput struct {
	Username string `path:"username" maxLength:"255" doc:"Whose feed: must be you." example:"alice"`
	Ticket   string `query:"ticket" doc:"A ticket from POST …/notifications/ticket; each works once, within its expires_in. Not needed with an Authorization header."`
	// EventSource sends Last-Event-ID when it reconnects by itself; a
	// client that opens a new EventSource (with a new ticket) passes it as
	// last_event_id.
	LastEventID      string `header:"Last-Event-ID" doc:"The id of the last event received: the stream first sends every notification after it."`
	LastEventIDQuery string `query:"last_event_id" doc:"Last-Event-ID for clients that cannot set headers (a new EventSource)."`
}

// Register adds the operations.
func (h *NotificationHandlers) Register(api huma.API) {
	o := op("get-user-notifications", http.MethodGet, "/users/{username}/notifications", "Your recent notifications",
		"The live feed's history: your most recent notifications of the sse channel, newest first.", "users")
	o.Errors = append(o.Errors, http.StatusForbidden)
	huma.Register(api, o, h.recent)

	o = op("create-notifications-ticket", http.MethodPost, "/users/{username}/notifications/ticket", "A ticket for your live feed",
		"A short-lived, single-use ticket that opens your notification stream: a browser's EventSource cannot "+
			"send the Authorization header, and a token must never be put in a URL.", "users")
	o.Errors = append(o.Errors, http.StatusForbidden)
	huma.Register(api, o, h.ticket)

	o = op("stream-user-notifications", http.MethodGet, "/users/{username}/notifications/stream", "Your live feed",
		"Server-sent events (text/event-stream): one event per notification of the sse channel, its id the "+
			"NOTIFY sequence and its data the notification as in the history. With Last-Event-ID (or "+
			"last_event_id) the stream first sends every notification after it. Comment lines every 15 "+
			"seconds keep proxies from closing an idle stream. Opened with a ticket (?ticket=), or with the "+
			"Authorization header by clients that can send one. An expired or used ticket: 401; another user's "+
			"stream: 403.", "users")
	o.Security = authOptional
	o.Errors = append(o.Errors, http.StatusBadRequest, http.StatusForbidden)
	o.Responses = map[string]*huma.Response{
		"200": {
			Description: "The stream of notifications.",
			Content:     map[string]*huma.MediaType{"text/event-stream": {Schema: &huma.Schema{Type: "string"}}},
		},
	}
	huma.Register(api, o, h.stream)
}

func (h *NotificationHandlers) recent(ctx context.Context, in *feedInput) (*feedOutput, error) {
	if _, err := mustOwn(ctx, in.Username, "read"); err != nil {
		return nil, feedForbidden(err, in.Username)
	}
	evs, err := h.hub.Recent(ctx, in.Username, in.Limit)
	if err != nil {
		h.s.log.WarnContext(ctx, "live feed history", slog.String("user", in.Username), slog.Any("error", err))
		return nil, unavailable("Cannot read your notifications right now: try again later.")
	}
	out := make([]FeedItem, len(evs))
	for i, ev := range evs {
		out[i] = ev.Data
	}
	return &feedOutput{Body: out}, nil
}

// feedForbidden rewords mustOwn's refusal, which speaks of rules.
func feedForbidden(err error, user string) error {
	var se huma.StatusError
	if errors.As(err, &se) && se.GetStatus() == http.StatusForbidden {
		return huma.Error403Forbidden(fmt.Sprintf("Only %s may read %s's notifications.", user, user))
	}
	return err
}

func (h *NotificationHandlers) ticket(ctx context.Context, in *userPath) (*ticketOutput, error) {
	if _, err := mustOwn(ctx, in.Username, "read"); err != nil {
		return nil, feedForbidden(err, in.Username)
	}
	t, ttl, err := h.tickets.Issue(ctx, in.Username)
	if err != nil {
		h.s.log.WarnContext(ctx, "live feed ticket", slog.Any("error", err))
		return nil, unavailable("Cannot issue a ticket right now: try again later.")
	}
	out := &ticketOutput{}
	out.Body.Ticket, out.Body.ExpiresIn = t, int(ttl.Seconds())
	return out, nil
}

func (h *NotificationHandlers) stream(ctx context.Context, in *streamInput) (*huma.StreamResponse, error) {
	// Checked before a ticket is spent on a stream that would be refused.
	if h.open.full(in.Username) {
		return nil, tooManyStreams(in.Username, h.open.max)
	}
	user := ""
	if id, ok := identity(ctx); ok && in.Ticket == "" {
		user = id.Username
	} else {
		if in.Ticket == "" {
			return nil, huma.Error401Unauthorized("Open the stream with a ticket: POST " + Prefix + "/users/" + in.Username +
				"/notifications/ticket, then ?ticket=<ticket>.")
		}
		u, err := h.tickets.Redeem(ctx, in.Ticket)
		if errors.Is(err, live.ErrBadTicket) {
			return nil, huma.Error401Unauthorized("The ticket expired or was used already: get a new one.")
		}
		if err != nil {
			h.s.log.WarnContext(ctx, "live feed ticket", slog.Any("error", err))
			return nil, unavailable("Cannot check the ticket right now: try again later.")
		}
		user = u
	}
	if ri := infoFrom(ctx); ri != nil {
		ri.user = user
	}
	if user != in.Username {
		return nil, huma.Error403Forbidden(fmt.Sprintf("You are logged in as %s: only %s may read %s's notifications.", user, in.Username, in.Username))
	}
	last := strings.TrimSpace(in.LastEventID)
	if last == "" {
		last = strings.TrimSpace(in.LastEventIDQuery)
	}
	var after uint64
	if last != "" {
		n, err := strconv.ParseUint(last, 10, 64)
		if err != nil {
			return nil, huma.Error400BadRequest("Last-Event-ID must be the id of an event of this stream (a number).")
		}
		after = n
	}
	select {
	case <-h.hub.Ready():
	default:
		return nil, unavailable("The live feed is starting: try again in a moment.")
	}
	if !h.open.acquire(user) {
		return nil, tooManyStreams(user, h.open.max)
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		defer h.open.release(user)
		r, w := humago.Unwrap(hctx)
		err := h.hub.Serve(r.Context(), w, user, after, last != "")
		if err != nil && r.Context().Err() == nil {
			h.s.log.InfoContext(r.Context(), "live feed stream ended", slog.String("user", user), slog.Any("error", err))
		}
	}}, nil
}
