package rules

import (
	"context"
	"iter"

	"github.com/fmn-project/fmn/bus"
)

// KeyKind says what a Key's value names.
type KeyKind uint8

// Key kinds. Each artifact type has its own kind, so that an artifact key
// needs no "type/name" string to be built per message.
const (
	// KeyUser is a username among the message's usernames (related-events).
	KeyUser KeyKind = iota + 1
	// KeyAgent is the message's agent (users-followed).
	KeyAgent
	// KeyRPM, KeyContainer, KeyModule and KeyFlatpak are artifacts of the
	// message (artifacts-followed, artifacts-owned, artifacts-group-owned).
	KeyRPM
	KeyContainer
	KeyModule
	KeyFlatpak
)

// Key is an index key: a rule can match a message only if Keys of the rule
// and MessageKeys of the message share one. It is comparable and small, so
// it can key a map directly.
type Key struct {
	Kind  KeyKind
	Value string
}

// String renders the key for logs and tests: "user:alice", "agent:bob",
// or "rpms/foo" for an artifact.
func (k Key) String() string {
	switch k.Kind {
	case KeyUser:
		return "user:" + k.Value
	case KeyAgent:
		return "agent:" + k.Value
	}
	if t := artifactType(k.Kind); t != "" {
		return t + "/" + k.Value
	}
	return "?:" + k.Value
}

// Artifact is a dist-git artifact. Type is one of ArtifactRPMs,
// ArtifactContainers, ArtifactModules and ArtifactFlatpaks (mind that
// dist-git's namespace for containers is "container").
type Artifact struct {
	Type string
	Name string
}

// Key returns the index key of a, and false when a's type is not one fmn
// tracks.
func (a Artifact) Key() (Key, bool) {
	k := artifactKind(a.Type)
	return Key{Kind: k, Value: a.Name}, k != 0
}

func artifactKind(typ string) KeyKind {
	switch typ {
	case ArtifactRPMs:
		return KeyRPM
	case ArtifactContainers:
		return KeyContainer
	case ArtifactModules:
		return KeyModule
	case ArtifactFlatpaks:
		return KeyFlatpak
	}
	return 0
}

func artifactType(k KeyKind) string {
	switch k {
	case KeyRPM:
		return ArtifactRPMs
	case KeyContainer:
		return ArtifactContainers
	case KeyModule:
		return ArtifactModules
	case KeyFlatpak:
		return ArtifactFlatpaks
	}
	return ""
}

// ArtifactSet is an immutable set of artifacts. A Lookups implementation can
// build one per user or group, cache it and hand out the same value to every
// caller: nothing can modify it after NewArtifactSet.
type ArtifactSet struct {
	m map[Key]struct{}
}

// NewArtifactSet returns the set of arts. Artifacts of a type fmn does not
// track (dist-git's "tests" namespace, say) are left out.
func NewArtifactSet(arts ...Artifact) ArtifactSet {
	m := make(map[Key]struct{}, len(arts))
	for _, a := range arts {
		if k, ok := a.Key(); ok {
			m[k] = struct{}{}
		}
	}
	return ArtifactSet{m: m}
}

// Len returns the number of artifacts in s.
func (s ArtifactSet) Len() int { return len(s.m) }

// Has reports whether a is in s.
func (s ArtifactSet) Has(a Artifact) bool {
	k, ok := a.Key()
	return ok && s.hasKey(k)
}

func (s ArtifactSet) hasKey(k Key) bool {
	_, ok := s.m[k]
	return ok
}

// All yields the artifacts of s in no particular order.
func (s ArtifactSet) All() iter.Seq[Artifact] {
	return func(yield func(Artifact) bool) {
		for k := range s.m {
			if !yield(Artifact{Type: artifactType(k.Kind), Name: k.Value}) {
				return
			}
		}
	}
}

// Lookups answers what matching cannot know from the rule and the message:
// which artifacts users and groups own in dist-git. Implementations sit on
// the shared service cache and must be safe for concurrent use. They are
// asked one name at a time so that they can return a cached set as is.
//
// A nil Lookups is allowed: rules that need it then have no keys and never
// match.
type Lookups interface {
	// OwnedArtifacts returns the artifacts on which user has owner, admin,
	// commit or collaborator access (ticket access does not count).
	OwnedArtifacts(ctx context.Context, user string) (ArtifactSet, error)
	// GroupOwnedArtifacts returns the artifacts on which group has admin,
	// commit or collaborator access.
	GroupOwnedArtifacts(ctx context.Context, group string) (ArtifactSet, error)
}

// MessageKeys returns the index keys of p: its usernames, its agent and its
// artifacts. The result may hold duplicates when p repeats a name.
func MessageKeys(p *bus.Parsed) []Key {
	n := len(p.Usernames) + 1 + len(p.Packages) + len(p.Containers) + len(p.Modules) + len(p.Flatpaks)
	return AppendMessageKeys(make([]Key, 0, n), p)
}

// AppendMessageKeys is MessageKeys appending to dst, for callers that reuse
// a buffer.
func AppendMessageKeys(dst []Key, p *bus.Parsed) []Key {
	for _, u := range p.Usernames {
		if u != "" {
			dst = append(dst, Key{KeyUser, u})
		}
	}
	if p.Agent != "" {
		dst = append(dst, Key{KeyAgent, p.Agent})
	}
	dst = appendNames(dst, KeyRPM, p.Packages)
	dst = appendNames(dst, KeyContainer, p.Containers)
	dst = appendNames(dst, KeyModule, p.Modules)
	dst = appendNames(dst, KeyFlatpak, p.Flatpaks)
	return dst
}

func appendNames(dst []Key, kind KeyKind, names []string) []Key {
	for _, n := range names {
		if n != "" {
			dst = append(dst, Key{kind, n})
		}
	}
	return dst
}

// messageArtifacts calls f for each artifact key of p until f returns true.
func messageArtifacts(p *bus.Parsed, f func(Key) bool) bool {
	lists := [...]struct {
		kind  KeyKind
		names []string
	}{
		{KeyRPM, p.Packages},
		{KeyContainer, p.Containers},
		{KeyModule, p.Modules},
		{KeyFlatpak, p.Flatpaks},
	}
	for _, l := range lists {
		for _, n := range l.names {
			if f(Key{l.kind, n}) {
				return true
			}
		}
	}
	return false
}
