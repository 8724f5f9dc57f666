package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fmn-project/fmn/bot"
	"github.com/fmn-project/fmn/rules"
)

// timelineLimit is how many messages of one room a /sync batch holds; a
// room with more since the last batch is "limited" and the rest is read
// with /messages (see backfill).
const timelineLimit = 50

// syncFilter keeps /sync to what the bot reads: messages in rooms from
// others than the bot (its own notifications would fill the timeline), and
// invites, without presence, account data or receipts.
func syncFilter(me string) string {
	f := map[string]any{
		"presence":     map[string]any{"types": []string{}},
		"account_data": map[string]any{"types": []string{}},
		"room": map[string]any{
			"timeline":     messageFilter(me, timelineLimit),
			"state":        map[string]any{"types": []string{}},
			"ephemeral":    map[string]any{"types": []string{}},
			"account_data": map[string]any{"types": []string{}},
		},
	}
	b, _ := json.Marshal(f)
	return string(b)
}

// messageFilter is a room event filter for the messages others send.
func messageFilter(me string, limit int) map[string]any {
	return map[string]any{"types": []string{"m.room.message"}, "not_senders": []string{me}, "limit": limit}
}

// firstSyncFilter is for the first /sync, which only needs the position
// to follow from: no room at all, however many the bot is in.
const firstSyncFilter = `{"presence":{"types":[]},"account_data":{"types":[]},"room":{"rooms":[]}}`

// maxSyncFailures is how many /sync failures in a row make Listen start
// again from the present (a reply it cannot read would fail forever).
const maxSyncFailures = 5

// Bounds of backfill: the messages of one room read beyond a limited
// timeline in one batch, and the page size.
const (
	maxBackfill  = 500
	backfillPage = 100
)

// syncResponse is the part of a /sync reply the bot reads.
type syncResponse struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Timeline struct {
				Events    []syncEvent `json:"events"`
				Limited   bool        `json:"limited"`
				PrevBatch string      `json:"prev_batch"`
			} `json:"timeline"`
		} `json:"join"`
		Invite map[string]struct {
			InviteState struct {
				Events []syncEvent `json:"events"`
			} `json:"invite_state"`
		} `json:"invite"`
	} `json:"rooms"`
}

// syncEvent is an event as the bot reads it. The homeserver vouches for
// the envelope; the content is whatever the sender wrote, so it is kept
// raw and read by content, which a malformed one cannot break.
type syncEvent struct {
	Type           string          `json:"type"`
	Sender         string          `json:"sender"`
	EventID        string          `json:"event_id"`
	StateKey       string          `json:"state_key"`
	OriginServerTS int64           `json:"origin_server_ts"`
	Content        json.RawMessage `json:"content"`
}

// eventContent is the part of an event's content the bot reads.
type eventContent struct {
	MsgType    string `json:"msgtype"`
	Body       string `json:"body"`
	Membership string `json:"membership"`
	IsDirect   bool   `json:"is_direct"`
}

// content decodes ev's content; a malformed one reads as empty.
func (ev *syncEvent) content() eventContent {
	var c eventContent
	if json.Unmarshal(ev.Content, &c) != nil {
		return eventContent{}
	}
	return c
}

// Listen runs the bot (package bot) on the bot account until ctx ends: it
// follows /sync, joins the direct rooms people invite it to (remembering
// them in m.direct, where Send finds them too), and answers m.text
// messages sent to it in a user's direct room (one in the bot's m.direct
// for that sender) with m.notice replies. The sender is the one the
// homeserver authenticated. Errors are logged and retried with backoff.
//
// With positions, the /sync position is saved after each batch is handled
// and Listen resumes from it: messages and invites that came while no
// process listened (a deploy, a crash) are answered and accepted, except
// messages older than Config.BotCatchUp. A crash between the replies and
// the save answers that batch again; the replies' transaction ids make
// that a no-op for the homeserver. Without positions, or without a saved
// position, what was said before Listen started is not answered. When the
// positions cannot be read or saved, the bot goes on without them (it says
// so once).
func (s *Sender) Listen(ctx context.Context, answer bot.Answerer, positions SyncPositions) {
	l := &listener{s: s, answer: answer, positions: positions}
	l.run(ctx)
}

// listener is one Listen.
type listener struct {
	s         *Sender
	answer    bot.Answerer
	positions SyncPositions

	loaded    bool // the saved position was looked up
	storeDown bool // a failure of positions was logged
	saved     string
}

func (l *listener) run(ctx context.Context) {
	s := l.s
	var since Position
	delay := time.Second
	failures := 0
	for ctx.Err() == nil {
		next, err := l.step(ctx, &since)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var apiErr *Error
			if since.Since != "" && errors.As(err, &apiErr) && positionRefused(apiErr) {
				s.log.Warn("bot: the homeserver refused the /sync position, starting again from now; messages sent since that position are not answered", "err", s.scrub(err))
				since, failures = Position{}, 0
				continue
			}
			if failures++; failures >= maxSyncFailures && since.Since != "" {
				s.log.Warn("bot: /sync keeps failing, starting again from now; messages meanwhile are not answered", "failures", failures)
				since, failures = Position{}, 0
			}
			s.log.Warn("bot: /sync failed", "err", s.scrub(err), "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			delay = min(2*delay, 30*time.Second)
			continue
		}
		since, delay, failures = next, time.Second, 0
		l.save(ctx, next)
	}
}

// positionRefused reports a /sync refused for its since: a position the
// homeserver does not know (another homeserver's, from before a reset, or
// damaged). Authentication failures and rate limits are not that.
func positionRefused(e *Error) bool {
	if !strings.HasPrefix(e.Path, "/sync?") {
		return false
	}
	return e.Status == http.StatusBadRequest || e.Status == http.StatusNotFound ||
		e.Code == "M_UNKNOWN_POS" || e.Code == "M_INVALID_PARAM"
}

// step looks up the saved position once, then reads and handles one batch.
func (l *listener) step(ctx context.Context, since *Position) (Position, error) {
	if !l.loaded {
		me, err := l.s.whoami(ctx)
		if err != nil {
			return Position{}, err
		}
		*since = l.load(ctx, me)
		l.loaded = true
	}
	return l.s.syncOnce(ctx, l.answer, *since)
}

// load returns the saved position of the bot account me, the zero
// Position when there is none or it cannot be read.
func (l *listener) load(ctx context.Context, me string) Position {
	if l.positions == nil {
		return Position{}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pos, err := l.positions.Load(ctx, me)
	if err != nil {
		l.storeFailed(err)
		return Position{}
	}
	l.saved = pos.Since
	if pos.Since == "" {
		l.s.log.Info("bot: no saved /sync position, starting from now")
		return Position{}
	}
	l.s.log.Info("bot: resuming /sync from the saved position: answering what was sent meanwhile",
		"saved_at", pos.At, "catch_up", l.s.cfg.BotCatchUp)
	return pos
}

// save stores pos after its batch was handled.
func (l *listener) save(ctx context.Context, pos Position) {
	if l.positions == nil || pos.Since == l.saved {
		return
	}
	me, err := l.s.whoami(ctx)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := l.positions.Save(ctx, me, pos); err != nil {
		if ctx.Err() == nil {
			l.storeFailed(err)
		}
		return
	}
	l.saved = pos.Since
	if l.storeDown {
		l.storeDown = false
		l.s.log.Info("bot: the /sync position is saved again")
	}
}

// storeFailed logs the first failure of positions in a row.
func (l *listener) storeFailed(err error) {
	if l.storeDown {
		l.s.log.Debug("bot: the /sync position store still fails", "err", l.s.scrub(err))
		return
	}
	l.storeDown = true
	l.s.log.Warn("bot: cannot read or save the /sync position; the bot goes on, but what is sent while fmn is down will not be answered", "err", l.s.scrub(err))
}

// syncOnce reads one /sync batch after since (none for the first, whose
// rooms are left out: what was said before is not answered, and an
// invite from before is not seen), handles it and returns its end.
func (s *Sender) syncOnce(ctx context.Context, answer bot.Answerer, since Position) (Position, error) {
	me, err := s.whoami(ctx)
	if err != nil {
		return Position{}, err
	}
	q := url.Values{"filter": {syncFilter(me)}}
	if since.Since != "" {
		q.Set("since", since.Since)
		q.Set("timeout", strconv.FormatInt((s.cfg.RequestTimeout/2).Milliseconds(), 10))
	} else {
		q.Set("filter", firstSyncFilter)
		q.Set("timeout", "0")
	}
	var resp syncResponse
	if err := s.do(ctx, http.MethodGet, "/sync?"+q.Encode(), nil, &resp); err != nil {
		return Position{}, err
	}
	if resp.NextBatch == "" {
		return Position{}, fmt.Errorf("/sync: no next_batch in the reply")
	}
	end := Position{Since: resp.NextBatch, At: time.Now()}
	for roomID, inv := range resp.Rooms.Invite {
		s.acceptInvite(ctx, me, roomID, inv.InviteState.Events)
	}
	if since.Since == "" {
		return end, nil
	}
	cutoff := time.Now().Add(-s.cfg.BotCatchUp)
	var direct map[string][]string
	for roomID, room := range resp.Rooms.Join {
		events := room.Timeline.Events
		if room.Timeline.Limited && room.Timeline.PrevBatch != "" {
			events = append(s.backfill(ctx, me, roomID, room.Timeline.PrevBatch, since, cutoff), events...)
		}
		seen := map[string]bool{}
		skipped := 0
		for _, ev := range events {
			if ev.Type != "m.room.message" || ev.Sender == me || seen[ev.EventID] {
				continue
			}
			seen[ev.EventID] = true
			c := ev.content()
			if c.MsgType != "m.text" || c.Body == "" {
				continue
			}
			if ev.OriginServerTS > 0 && time.UnixMilli(ev.OriginServerTS).Before(cutoff) {
				skipped++
				continue
			}
			if direct == nil {
				if direct, err = s.direct(ctx, me); err != nil {
					return Position{}, err
				}
			}
			if !slices.Contains(direct[ev.Sender], roomID) {
				continue // not this sender's direct room with the bot
			}
			s.reply(ctx, answer, roomID, ev, c.Body)
		}
		if skipped > 0 {
			s.log.Info("bot: messages older than bot_catch_up not answered", "room", roomID, "messages", skipped, "catch_up", s.cfg.BotCatchUp)
		}
	}
	return end, nil
}

// backfill reads the messages of roomID that a limited timeline left out:
// back from prev (the timeline's prev_batch) to since (the batch's own
// start), newest first, stopping at the first message older than cutoff
// or than since.At (handled already: Dendrite's /messages does not stop
// exactly at since) and after maxBackfill messages, which it logs. It
// returns them oldest first. On a failure it logs what it could not read
// and returns what it has: the batch goes on with the messages it holds.
func (s *Sender) backfill(ctx context.Context, me, roomID, prev string, since Position, cutoff time.Time) []syncEvent {
	if since.At.After(cutoff) {
		cutoff = since.At
	}
	filter, _ := json.Marshal(messageFilter(me, backfillPage))
	var out []syncEvent
	from := prev
	for len(out) < maxBackfill {
		q := url.Values{"dir": {"b"}, "from": {from}, "to": {since.Since}, "limit": {strconv.Itoa(backfillPage)}, "filter": {string(filter)}}
		var page struct {
			Chunk []syncEvent `json:"chunk"`
			End   string      `json:"end"`
		}
		if err := s.do(ctx, http.MethodGet, "/rooms/"+url.PathEscape(roomID)+"/messages?"+q.Encode(), nil, &page); err != nil {
			s.log.Warn("bot: cannot read the messages a limited /sync left out; they are not answered", "room", roomID, "read", len(out), "err", s.scrub(err))
			break
		}
		done := len(page.Chunk) == 0 || page.End == "" || page.End == from
		for _, ev := range page.Chunk {
			if ev.OriginServerTS > 0 && time.UnixMilli(ev.OriginServerTS).Before(cutoff) {
				done = true // older ones were handled, or are past bot_catch_up
				break
			}
			out = append(out, ev)
		}
		if done {
			slices.Reverse(out)
			return out
		}
		from = page.End
	}
	if len(out) >= maxBackfill {
		s.log.Warn("bot: more messages came in a room than the bot reads back at once; the older ones are not answered", "room", roomID, "read", len(out))
	}
	slices.Reverse(out)
	return out
}

// acceptInvite joins a room the bot is invited to as a direct chat and
// remembers it as the inviter's direct room. Other invites are left.
func (s *Sender) acceptInvite(ctx context.Context, me, roomID string, state []syncEvent) {
	inviter := ""
	for _, ev := range state {
		if c := ev.content(); ev.Type == "m.room.member" && ev.StateKey == me && c.Membership == "invite" && c.IsDirect {
			inviter = ev.Sender
		}
	}
	if inviter == "" {
		return
	}
	if _, err := parseUserID(inviter); err != nil {
		return
	}
	if err := s.do(ctx, http.MethodPost, "/join/"+url.PathEscape(roomID), map[string]any{}, nil); err != nil {
		s.log.Warn("bot: cannot join a direct room", "room", roomID, "inviter", inviter, "err", s.scrub(err))
		return
	}
	s.resolve.Lock()
	defer s.resolve.Unlock()
	if err := s.remember(ctx, me, inviter, &room{id: roomID}); err != nil {
		s.log.Warn("bot: cannot remember a direct room", "room", roomID, "inviter", inviter, "err", s.scrub(err))
		return
	}
	s.log.Info("bot: joined a direct room", "room", roomID, "user", inviter)
}

// reply answers one message with one m.notice per line. The transaction
// ids derive from the message's event id, so a retried reply is not
// posted twice, by this process or by the next one with the same access
// token (the homeserver keeps transaction ids per access token: Dendrite
// for 30 to 60 minutes, in memory; Synapse for a day).
func (s *Sender) reply(ctx context.Context, answer bot.Answerer, roomID string, ev syncEvent, body string) {
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	lines := answer.Answer(actx, bot.Message{Protocol: rules.ProtocolMatrix, From: ev.Sender, Account: ev.Sender, Text: body})
	for i, line := range lines {
		txn := "fmn.bot." + url.PathEscape(ev.EventID) + "." + strconv.Itoa(i)
		content := map[string]string{"msgtype": "m.notice", "body": line}
		if err := s.do(actx, http.MethodPut, "/rooms/"+url.PathEscape(roomID)+"/send/m.room.message/"+txn, content, nil); err != nil {
			s.log.Warn("bot: cannot reply", "room", roomID, "to", ev.Sender, "err", s.scrub(err))
			return
		}
	}
}
