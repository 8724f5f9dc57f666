package directory

import (
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
