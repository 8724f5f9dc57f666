package notification

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fmn-project/fmn/bus"
)

// Metadata headers of an email, for filtering in a mail client. They keep
// the old FMN's X-Fedmsg-* names under the prefix of the other fmn headers
// (X-Fedmsg-Username becomes X-Fedora-Messaging-Username, and so on), so a
// filter moves over by changing the prefix. A list is one header per name,
// repeated, as the old FMN did: a filter can then match a whole name
// exactly (Sieve's :is, procmail's ^…$), and names need no quoting.
const (
	HeaderAgent         = "X-Fedora-Messaging-Agent"
	HeaderUsername      = "X-Fedora-Messaging-Username"
	HeaderGroup         = "X-Fedora-Messaging-Group"
	HeaderPackage       = "X-Fedora-Messaging-Package"
	HeaderContainer     = "X-Fedora-Messaging-Container"
	HeaderModule        = "X-Fedora-Messaging-Module"
	HeaderFlatpak       = "X-Fedora-Messaging-Flatpak"
	HeaderNumUsernames  = "X-Fedora-Messaging-Num-Usernames"
	HeaderNumGroups     = "X-Fedora-Messaging-Num-Groups"
	HeaderNumPackages   = "X-Fedora-Messaging-Num-Packages"
	HeaderNumContainers = "X-Fedora-Messaging-Num-Containers"
	HeaderNumModules    = "X-Fedora-Messaging-Num-Modules"
	HeaderNumFlatpaks   = "X-Fedora-Messaging-Num-Flatpaks"
)

// Bounds of Meta, which keep a notification small whatever the message:
// at most MaxMetaNames names of each kind (as the old FMN listed at most
// 10 packages), each at most MaxMetaName characters.
const (
	MaxMetaNames = 10
	MaxMetaName  = 128
)

// newMeta derives the Meta of a parsed message.
func newMeta(p *bus.Parsed) *Meta {
	m := &Meta{Agent: metaName(p.Agent)}
	m.Usernames, m.NumUsernames = metaNames(p.Usernames)
	m.Groups, m.NumGroups = metaNames(p.Groups)
	m.Packages, m.NumPackages = metaNames(p.Packages)
	m.Containers, m.NumContainers = metaNames(p.Containers)
	m.Modules, m.NumModules = metaNames(p.Modules)
	m.Flatpaks, m.NumFlatpaks = metaNames(p.Flatpaks)
	return m
}

// metaName is s as one trimmed line of at most MaxMetaName characters.
func metaName(s string) string {
	s = strings.TrimSpace(oneLine(s))
	if len(s) <= MaxMetaName || utf8.RuneCountInString(s) <= MaxMetaName {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:MaxMetaName-1]), " ") + "…"
}

// metaNames returns the first MaxMetaNames of the distinct, non-empty
// names, sorted, and their full number when that is more than listed (0
// otherwise). Names already sorted, distinct and plain (the usual case:
// the parser sorts and deduplicates) are only copied.
func metaNames(names []string) ([]string, int) {
	if len(names) == 0 {
		return nil, 0
	}
	clean := true
	for i, s := range names {
		if s == "" || len(s) > MaxMetaName || !isPlainLine(s) || s[0] == ' ' || s[len(s)-1] == ' ' || i > 0 && names[i-1] >= s {
			clean = false
			break
		}
	}
	out := names
	if !clean {
		out = make([]string, 0, len(names))
		for _, s := range names {
			if s = metaName(s); s != "" {
				out = append(out, s)
			}
		}
		slices.Sort(out)
		out = slices.Compact(out)
	}
	if len(out) <= MaxMetaNames {
		if clean {
			out = slices.Clone(out)
		}
		return slices.Clip(out), 0
	}
	return slices.Clone(out[:MaxMetaNames]), len(out)
}

// Header is one header of an email: a name and a one-line value.
type Header struct{ Name, Value string }

// Headers returns the metadata headers, in a fixed order: the agent, then
// each kind's names followed by its Num header. Num-Packages is always
// there (0 when the message names no package), as the old FMN's
// X-Fedmsg-Num-Packages was; the other Num headers come with a non-empty
// list. A nil Meta (a notification from before Meta) has none.
func (m *Meta) Headers() []Header {
	if m == nil {
		return nil
	}
	var hs []Header
	if a := metaName(m.Agent); a != "" {
		hs = append(hs, Header{HeaderAgent, a})
	}
	kinds := [...]struct {
		name, num string
		names     []string
		total     int
	}{
		{HeaderUsername, HeaderNumUsernames, m.Usernames, m.NumUsernames},
		{HeaderGroup, HeaderNumGroups, m.Groups, m.NumGroups},
		{HeaderPackage, HeaderNumPackages, m.Packages, m.NumPackages},
		{HeaderContainer, HeaderNumContainers, m.Containers, m.NumContainers},
		{HeaderModule, HeaderNumModules, m.Modules, m.NumModules},
		{HeaderFlatpak, HeaderNumFlatpaks, m.Flatpaks, m.NumFlatpaks},
	}
	for _, k := range kinds {
		listed := 0
		for _, s := range k.names {
			if s = metaName(s); s != "" {
				hs = append(hs, Header{k.name, s})
				listed++
			}
		}
		if listed > 0 || k.name == HeaderPackage {
			hs = append(hs, Header{k.num, strconv.Itoa(max(k.total, listed))})
		}
	}
	return hs
}
