package matrix

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/fmn-project/fmn/bot"
	"github.com/fmn-project/fmn/rules"
)

// syncFilter keeps /sync to what the bot reads: messages in rooms and
// invites, without presence, account data or receipts.
const syncFilter = `{"presence":{"types":[]},"account_data":{"types":[]},` +
	`"room":{"timeline":{"types":["m.room.message"],"limit":50},"state":{"types":[]},"ephemeral":{"types":[]},"account_data":{"types":[]}}}`

// firstSyncFilter is for the first /sync, which only needs the position
// to follow from: no room at all, however many the bot is in.
const firstSyncFilter = `{"presence":{"types":[]},"account_data":{"types":[]},"room":{"rooms":[]}}`

// maxSyncFailures is how many /sync failures in a row make Listen start
// again from the present (a reply it cannot read would fail forever).
const maxSyncFailures = 5

// syncResponse is the part of a /sync reply the bot reads.
type syncResponse struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Timeline struct {
				Events []syncEvent `json:"events"`
			} `json:"timeline"`
		} `json:"join"`
		Invite map[string]struct {
			InviteState struct {
				Events []syncEvent `json:"events"`
			} `json:"invite_state"`
		} `json:"invite"`
	} `json:"rooms"`
}

type syncEvent struct {
	Type     string `json:"type"`
	Sender   string `json:"sender"`
	EventID  string `json:"event_id"`
	StateKey string `json:"state_key"`
	Content  struct {
		MsgType    string `json:"msgtype"`
		Body       string `json:"body"`
		Membership string `json:"membership"`
		IsDirect   bool   `json:"is_direct"`
	} `json:"content"`
}

// Listen runs the bot (package bot) on the bot account until ctx ends: it
// follows /sync, joins the direct rooms people invite it to (remembering
// them in m.direct, where Send finds them too), and answers m.text
// messages sent to it in a user's direct room (one in the bot's m.direct
// for that sender) with m.notice replies. The sender is the one the
// homeserver authenticated. Messages from before Listen started are not
// answered. Errors are logged and retried with backoff.
func (s *Sender) Listen(ctx context.Context, answer bot.Answerer) {
	since := ""
	delay := time.Second
	failures := 0
	for ctx.Err() == nil {
		next, err := s.syncOnce(ctx, answer, since)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if failures++; failures >= maxSyncFailures && since != "" {
				s.log.Warn("bot: /sync keeps failing, starting again from now; messages meanwhile are not answered", "failures", failures)
				since, failures = "", 0
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
	}
}

// syncOnce reads one /sync batch after since ("" for the first, whose
// rooms are left out: what was said before is not answered, and an
// invite from before is not seen) and handles it.
func (s *Sender) syncOnce(ctx context.Context, answer bot.Answerer, since string) (string, error) {
	me, err := s.whoami(ctx)
	if err != nil {
		return "", err
	}
	q := url.Values{"filter": {syncFilter}}
	if since != "" {
		q.Set("since", since)
		q.Set("timeout", strconv.FormatInt((s.cfg.RequestTimeout/2).Milliseconds(), 10))
	} else {
		q.Set("filter", firstSyncFilter)
		q.Set("timeout", "0")
	}
	var resp syncResponse
	if err := s.do(ctx, http.MethodGet, "/sync?"+q.Encode(), nil, &resp); err != nil {
		return "", err
	}
	if resp.NextBatch == "" {
		return "", fmt.Errorf("/sync: no next_batch in the reply")
	}
	for roomID, inv := range resp.Rooms.Invite {
		s.acceptInvite(ctx, me, roomID, inv.InviteState.Events)
	}
	if since == "" {
		return resp.NextBatch, nil
	}
	var direct map[string][]string
	for roomID, room := range resp.Rooms.Join {
		for _, ev := range room.Timeline.Events {
			if ev.Type != "m.room.message" || ev.Sender == me || ev.Content.MsgType != "m.text" || ev.Content.Body == "" {
				continue
			}
			if direct == nil {
				if direct, err = s.direct(ctx, me); err != nil {
					return "", err
				}
			}
			if !slices.Contains(direct[ev.Sender], roomID) {
				continue // not this sender's direct room with the bot
			}
			s.reply(ctx, answer, roomID, ev)
		}
	}
	return resp.NextBatch, nil
}

// acceptInvite joins a room the bot is invited to as a direct chat and
// remembers it as the inviter's direct room. Other invites are left.
func (s *Sender) acceptInvite(ctx context.Context, me, roomID string, state []syncEvent) {
	inviter := ""
	for _, ev := range state {
		if ev.Type == "m.room.member" && ev.StateKey == me && ev.Content.Membership == "invite" && ev.Content.IsDirect {
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
// posted twice.
func (s *Sender) reply(ctx context.Context, answer bot.Answerer, roomID string, ev syncEvent) {
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	lines := answer.Answer(actx, bot.Message{Protocol: rules.ProtocolMatrix, From: ev.Sender, Account: ev.Sender, Text: ev.Content.Body})
	for i, line := range lines {
		txn := "fmn.bot." + url.PathEscape(ev.EventID) + "." + strconv.Itoa(i)
		content := map[string]string{"msgtype": "m.notice", "body": line}
		if err := s.do(actx, http.MethodPut, "/rooms/"+url.PathEscape(roomID)+"/send/m.room.message/"+txn, content, nil); err != nil {
			s.log.Warn("bot: cannot reply", "room", roomID, "to", ev.Sender, "err", s.scrub(err))
			return
		}
	}
}
