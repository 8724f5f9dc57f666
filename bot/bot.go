// Package bot answers the commands people send to fmn's chat accounts (a
// private message to its IRC nick, a message in a Matrix direct room):
// help, stop, start and list, as the old FMN's IRC bot did.
//
// Only a sender the chat network vouches for is served: on IRC a nick
// logged in to services (the account the server tags the message with),
// on Matrix the sender the homeserver authenticated. That identity must be
// one of the chat nicks of exactly one Fedora account (FASJSON ircnicks);
// the commands then act on that account's destination. Anyone else gets a
// polite refusal. Replies are one line each and carry no secret; a sender
// who floods is answered at a bounded rate and then not at all.
package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/time/rate"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/directory"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

// Message is one message to fmn's chat account.
type Message struct {
	// Protocol is rules.ProtocolIRC or rules.ProtocolMatrix.
	Protocol string
	// From is the sender as the chat shows them: a nick, a Matrix id.
	From string
	// Account is the identity the network vouches for: the services
	// account on IRC ("" when the nick is not identified), the sender's
	// Matrix id (set by the homeserver) on Matrix.
	Account string
	Text    string
}

// Answerer answers a message with reply lines (none: say nothing).
type Answerer interface {
	Answer(ctx context.Context, m Message) []string
}

// Owners finds the Fedora accounts that list a chat destination
// (*directory.Directory).
type Owners interface {
	ChatOwners(ctx context.Context, d rules.Destination) ([]directory.ChatOwner, error)
}

// Rules lists a user's rules (*rulelog.Store).
type Rules interface {
	UserRules(ctx context.Context, user string) ([]rulelog.StoredRule, error)
}

// Config of a Bot. Owners, Rules and Pauser are required.
type Config struct {
	Owners Owners
	Rules  Rules
	Pauser delivery.Pauser
	// PublicURL is where users reach fmn's web UI (rule links).
	PublicURL string
	// PerSender bounds the commands answered per sender: Rate per second
	// with bursts of Burst (default one every 2 s, bursts of 5).
	Rate  rate.Limit
	Burst int
	// Total bounds the commands answered from everyone together, so that
	// many senders cannot make fmn hammer FASJSON (default 10/s, bursts
	// of 30).
	Total      rate.Limit
	TotalBurst int
	// MaxListed is how many rules list names before "… and K more"
	// (default 10).
	MaxListed int
	Log       *slog.Logger
}

// Bot answers commands. It is safe for concurrent use.
type Bot struct {
	cfg   Config
	total *rate.Limiter

	mu      sync.Mutex
	senders map[string]*senderState
	swept   time.Time
}

type senderState struct {
	lim  *rate.Limiter
	seen time.Time
}

var _ Answerer = (*Bot)(nil)

// New returns a bot for cfg.
func New(cfg Config) (*Bot, error) {
	if cfg.Owners == nil || cfg.Rules == nil || cfg.Pauser == nil {
		return nil, errors.New("bot: Owners, Rules and Pauser are required")
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 0.5
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 5
	}
	if cfg.Total <= 0 {
		cfg.Total = 10
	}
	if cfg.TotalBurst <= 0 {
		cfg.TotalBurst = 30
	}
	if cfg.MaxListed <= 0 {
		cfg.MaxListed = 10
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	return &Bot{cfg: cfg, total: rate.NewLimiter(cfg.Total, cfg.TotalBurst), senders: map[string]*senderState{}}, nil
}

// maxCommand bounds the text read as a command.
const maxCommand = 64

// Answer runs the command in m and returns the reply lines. A sender over
// the rate limit gets no reply.
func (b *Bot) Answer(ctx context.Context, m Message) []string {
	if !b.allow(m) {
		b.cfg.Log.Debug("bot: command dropped by the rate limit", "protocol", m.Protocol, "from", m.From)
		return nil
	}
	word := command(m.Text)
	if word == "" {
		return nil
	}
	switch word {
	case "help", "stop", "start", "list":
	default:
		return []string{fmt.Sprintf("Unknown command %q. Say help for the commands fmn knows.", word)}
	}
	if word == "help" {
		return b.help()
	}
	user, dest, refusal := b.identify(ctx, m)
	if refusal != "" {
		return []string{refusal}
	}
	switch word {
	case "stop", "start":
		paused := word == "stop"
		if err := b.cfg.Pauser.SetPaused(ctx, user, dest.Protocol, dest.Address, paused); err != nil {
			b.cfg.Log.Error("bot: cannot change the pause", "user", user, "protocol", dest.Protocol, "address", dest.Address, "paused", paused, "err", err)
			return []string{sorry}
		}
		b.cfg.Log.Info("bot: destination paused by its owner", "user", user, "protocol", dest.Protocol, "address", dest.Address, "paused", paused)
		if paused {
			return []string{fmt.Sprintf("Paused: fmn sends nothing to %s (%s) until you say start; what comes meanwhile is dropped.", dest.Address, dest.Protocol)}
		}
		return []string{fmt.Sprintf("Resumed: fmn sends notifications to %s (%s) again.", dest.Address, dest.Protocol)}
	default: // list
		return b.list(ctx, user, dest)
	}
}

const sorry = "Sorry, fmn cannot answer that right now; please try again in a few minutes."

// help is the list of commands.
func (b *Bot) help() []string {
	out := []string{
		"fmn commands: help (this), list (your rules that send here), stop (pause notifications here), start (resume them).",
		"Commands work from a nick identified to services (IRC) or a Matrix account, listed among the chat nicks of your Fedora account.",
	}
	if b.cfg.PublicURL != "" {
		out = append(out, "Manage your rules at "+b.cfg.PublicURL+"/")
	}
	return out
}

// identify finds the account behind m, or says why it cannot act for it.
func (b *Bot) identify(ctx context.Context, m Message) (string, rules.Destination, string) {
	if m.Account == "" {
		if m.Protocol == rules.ProtocolIRC {
			return "", rules.Destination{}, "You are not identified to services. Identify first (/msg NickServ IDENTIFY <password>, or log in with SASL), then try again."
		}
		return "", rules.Destination{}, "fmn cannot tell who you are; it answers only messages from an authenticated account."
	}
	dest := rules.Destination{Protocol: m.Protocol, Address: m.Account}
	owners, err := b.cfg.Owners.ChatOwners(ctx, dest)
	if err != nil {
		b.cfg.Log.Warn("bot: cannot look up the account of a chat nick", "protocol", m.Protocol, "account", m.Account, "err", err)
		return "", rules.Destination{}, sorry
	}
	switch len(owners) {
	case 0:
		what := "nick " + m.Account
		if m.Protocol == rules.ProtocolMatrix {
			what = "Matrix account " + m.Account
		}
		return "", rules.Destination{}, fmt.Sprintf("No Fedora account lists the %s. Add it to your account's chat nicks, then try again.", what)
	case 1:
		return owners[0].User, owners[0].Destination, ""
	}
	names := make([]string, len(owners))
	for i, o := range owners {
		names[i] = o.User
	}
	slices.Sort(names)
	return "", rules.Destination{}, fmt.Sprintf("More than one Fedora account lists %s (%s); fmn acts only when exactly one does.", m.Account, strings.Join(names, ", "))
}

// list names user's enabled rules that send to dest.
func (b *Bot) list(ctx context.Context, user string, dest rules.Destination) []string {
	all, err := b.cfg.Rules.UserRules(ctx, user)
	if err != nil {
		b.cfg.Log.Error("bot: cannot read the rules", "user", user, "err", err)
		return []string{sorry}
	}
	var hits []rulelog.StoredRule
	for _, r := range all {
		if !r.Disabled && sendsTo(r.Rule, dest) {
			hits = append(hits, r)
		}
	}
	if len(hits) == 0 {
		line := fmt.Sprintf("None of your enabled rules sends to %s.", dest.Address)
		if b.cfg.PublicURL != "" {
			line += " Add one at " + b.cfg.PublicURL + "/rules/new"
		}
		return []string{line}
	}
	slices.SortFunc(hits, func(a, b rulelog.StoredRule) int { return int(a.ID - b.ID) })
	out := []string{fmt.Sprintf("%d of your rules send to %s:", len(hits), dest.Address)}
	for i, r := range hits {
		if i == b.cfg.MaxListed {
			out = append(out, fmt.Sprintf("… and %d more: %s/", len(hits)-i, b.cfg.PublicURL))
			break
		}
		name := oneLine(r.Name)
		if name == "" {
			name = "(unnamed)"
		}
		line := "#" + strconv.FormatInt(r.ID, 10) + " " + name
		if b.cfg.PublicURL != "" {
			line += " " + b.cfg.PublicURL + "/rules/" + strconv.FormatInt(r.ID, 10)
		}
		out = append(out, line)
	}
	return out
}

// sendsTo reports whether one of r's generation rules sends to dest.
func sendsTo(r rules.Rule, dest rules.Destination) bool {
	for _, g := range r.GenerationRules {
		for _, d := range g.Destinations {
			if directory.SameChatAddress(d, dest) {
				return true
			}
		}
	}
	return false
}

// command is the first word of text, lower case, without a leading ! or
// /, or "" when there is none.
func command(text string) string {
	if len(text) > maxCommand {
		text = text[:maxCommand]
	}
	f := strings.Fields(text)
	if len(f) == 0 {
		return ""
	}
	word := strings.ToLower(strings.TrimLeft(f[0], "!/."))
	return oneLine(word)
}

// oneLine keeps s to printable text on one line, at most 80 runes.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if r := []rune(s); len(r) > 80 {
		s = string(r[:79]) + "…"
	}
	return strings.TrimSpace(s)
}

// allow applies the per-sender and the total rate limits.
func (b *Bot) allow(m Message) bool {
	key := m.Protocol + "\x00" + strings.ToLower(m.From)
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.senders) > 10000 && now.Sub(b.swept) > time.Minute {
		// Forget senders whose bucket has refilled.
		full := time.Duration(float64(b.cfg.Burst) / float64(b.cfg.Rate) * float64(time.Second))
		for k, s := range b.senders {
			if now.Sub(s.seen) > full {
				delete(b.senders, k)
			}
		}
		b.swept = now
	}
	s := b.senders[key]
	if s == nil {
		s = &senderState{lim: rate.NewLimiter(b.cfg.Rate, b.cfg.Burst)}
		b.senders[key] = s
	}
	s.seen = now
	return s.lim.AllowN(now, 1) && b.total.AllowN(now, 1)
}
