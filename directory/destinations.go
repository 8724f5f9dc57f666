package directory

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/fmn-project/fmn/fasjson"
	"github.com/fmn-project/fmn/rules"
)

// DefaultMatrixServer is the server of a matrix: nick that names none.
const DefaultMatrixServer = "fedora.im"

// Destinations derives where a user can be notified from their account:
// each of their emails, and each chat nick — irc:/nick (or a bare nick,
// as old records hold) on IRC, matrix:/user on fedora.im and
// matrix://server/user on server, as @user:server. Nicks in another scheme
// are left out. The result has no duplicates and keeps the record's order.
func Destinations(u fasjson.User) []rules.Destination {
	out := make([]rules.Destination, 0, len(u.Emails)+len(u.IRCNicks))
	add := func(d rules.Destination) {
		if d.Address != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	for _, e := range u.Emails {
		add(rules.Destination{Protocol: rules.ProtocolEmail, Address: strings.TrimSpace(e)})
	}
	for _, n := range u.IRCNicks {
		if d, ok := chatDestination(n); ok {
			add(d)
		}
	}
	return out
}

// chatDestination reads one ircnicks entry.
func chatDestination(nick string) (rules.Destination, bool) {
	nick = strings.TrimSpace(nick)
	if nick == "" {
		return rules.Destination{}, false
	}
	scheme, rest, ok := strings.Cut(nick, ":")
	if !ok {
		return rules.Destination{Protocol: rules.ProtocolIRC, Address: nick}, true
	}
	u, err := url.Parse(nick)
	if err != nil {
		return rules.Destination{}, false
	}
	switch strings.ToLower(scheme) {
	case "irc", "ircs":
		name := strings.Trim(u.Path, "/")
		if name == "" {
			name = strings.Trim(rest, "/")
		}
		return rules.Destination{Protocol: rules.ProtocolIRC, Address: name}, name != ""
	case "matrix":
		name := strings.Trim(u.Path, "/")
		server := u.Host
		// matrix:/@user:server, a full Matrix ID, names its server.
		if id, ok := strings.CutPrefix(name, "@"); ok {
			if user, srv, ok := strings.Cut(id, ":"); ok && user != "" && srv != "" {
				name, server = user, srv
			} else {
				name = id
			}
		}
		if server == "" {
			server = DefaultMatrixServer
		}
		if name == "" {
			return rules.Destination{}, false
		}
		return rules.Destination{Protocol: rules.ProtocolMatrix, Address: "@" + name + ":" + server}, true
	}
	return rules.Destination{}, false
}

// ChatOwner is an account that lists a chat destination, and the
// destination as the account spells it (what its rules send to).
type ChatOwner struct {
	User        string
	Destination rules.Destination
}

// ChatOwners returns the accounts that list the chat destination d (IRC or
// Matrix) among their chat nicks, found with FASJSON's search and checked
// against Destinations; locked accounts are left out. IRC nicks compare
// under the rfc1459 case mapping, Matrix user ids without regard to case.
// It is not cached: the bots that ask bound how often.
func (d *Directory) ChatOwners(ctx context.Context, dest rules.Destination) ([]ChatOwner, error) {
	fas := d.cfg.FASJSON
	if fas == nil {
		return nil, ErrNotConfigured
	}
	name := dest.Address
	switch dest.Protocol {
	case rules.ProtocolIRC:
	case rules.ProtocolMatrix:
		local, _, _ := strings.Cut(strings.TrimPrefix(name, "@"), ":")
		name = local
	default:
		return nil, fmt.Errorf("%s is not a chat protocol", dest.Protocol)
	}
	term := name
	if len(term) < 3 {
		// FASJSON wants 3 characters; every URL form has a / before the name.
		term = "/" + term
	}
	if name == "" || len(term) < 3 {
		return nil, nil
	}
	users, err := fas.SearchChatNicks(ctx, term, chatOwnersLimit)
	if err != nil {
		return nil, err
	}
	var out []ChatOwner
	for _, u := range users {
		if u.Locked {
			continue
		}
		for _, got := range Destinations(u) {
			if SameChatAddress(got, dest) {
				out = append(out, ChatOwner{User: u.Username, Destination: got})
				break
			}
		}
	}
	return out, nil
}

// chatOwnersLimit bounds the accounts a chat nick search reads: a nick is
// normally listed by one account, and a substring matches a few more.
const chatOwnersLimit = 200

// SameChatAddress reports whether a and b are one chat destination: IRC
// nicks are equal under rfc1459 case mapping, Matrix ids and the rest
// without regard to case.
func SameChatAddress(a, b rules.Destination) bool {
	if a.Protocol != b.Protocol {
		return false
	}
	if a.Protocol == rules.ProtocolIRC {
		return rules.FoldIRCNick(a.Address) == rules.FoldIRCNick(b.Address)
	}
	return strings.EqualFold(a.Address, b.Address)
}
