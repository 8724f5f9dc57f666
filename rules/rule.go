// Package rules holds the rule model of fmn (FMN v3 semantics and JSON),
// its validation and its matching. It does no I/O: lookups that need a
// service (dist-git ownership) come in through the Lookups interface.
package rules

import "encoding/json"

// Rule is one user's rule, in FMN v3's JSON shape.
type Rule struct {
	ID                int64            `json:"id"`
	Name              string           `json:"name"`
	Disabled          bool             `json:"disabled"`
	User              User             `json:"user"`
	TrackingRule      TrackingRule     `json:"tracking_rule"`
	GenerationRules   []GenerationRule `json:"generation_rules"`
	GeneratedLastWeek int64            `json:"generated_last_week"`
	// Origin says where a rule came from: OriginDefault for a rule made
	// from an admin's template when its user was first seen, "" for a rule
	// the user (or an admin) made. It is set at creation and kept by
	// every later change.
	Origin string `json:"origin,omitempty"`
}

// OriginDefault is the Origin of a default rule (see Template).
const OriginDefault = "default"

// User names the owner of a rule.
type User struct {
	Name string `json:"name"`
}

// TrackingRule decides whether a rule fires at all. Params depends on Name:
// a list of usernames, group names, {"name","type"} artifacts, or null.
type TrackingRule struct {
	Name   string          `json:"name"`
	Params json.RawMessage `json:"params"`
}

// GenerationRule yields one notification per destination when all its
// filters pass.
type GenerationRule struct {
	Destinations []Destination `json:"destinations"`
	Filters      Filters       `json:"filters"`
}

// Destination is where a notification goes.
type Destination struct {
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
}

// Filters all must pass; a missing or empty filter passes.
type Filters struct {
	Applications         []string `json:"applications"`
	ExcludedApplications []string `json:"excluded_applications"`
	Severities           []string `json:"severities"`
	Topic                *string  `json:"topic"`
	MyActions            bool     `json:"my_actions"`
}

// Tracking rule names.
const (
	TrackArtifactsOwned      = "artifacts-owned"
	TrackArtifactsGroupOwned = "artifacts-group-owned"
	TrackArtifactsFollowed   = "artifacts-followed"
	TrackRelatedEvents       = "related-events"
	TrackUsersFollowed       = "users-followed"
)

// Destination protocols.
const (
	ProtocolEmail  = "email"
	ProtocolIRC    = "irc"
	ProtocolMatrix = "matrix"
	// ProtocolSSE is the live feed in the browser (server-sent events);
	// its address is the rule owner's own username.
	ProtocolSSE = "sse"
)

// Artifact types of artifacts-followed.
const (
	ArtifactRPMs       = "rpms"
	ArtifactContainers = "containers"
	ArtifactModules    = "modules"
	ArtifactFlatpaks   = "flatpaks"
)

// FollowedArtifact is one element of artifacts-followed params.
type FollowedArtifact struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// GenerationRuleIDStride spaces the generation rule ids of two rules:
// larger than MaxGenerationRules.
const GenerationRuleIDStride = 32

// GenerationRuleID is the id of the i-th generation rule of rule ruleID
// (FMN's GenerationRule.id). It is derived, never stored: unique (rule ids
// are unique and i < GenerationRuleIDStride), the same after a rebuild of
// the projection, and positional as FMN's are: FMN's update overwrites
// the generation rule at each index in place, so the one at index i keeps
// its id whatever its content becomes.
func GenerationRuleID(ruleID int64, i int) int64 {
	return ruleID*GenerationRuleIDStride + int64(i)
}

// FoldIRCNick is IRC's rfc1459 case mapping, which most servers use: two
// nicks are the same when their folds are equal. Besides ASCII letters,
// []\~ are the upper case of {}|^.
func FoldIRCNick(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case c == '[':
			b[i] = '{'
		case c == ']':
			b[i] = '}'
		case c == '\\':
			b[i] = '|'
		case c == '~':
			b[i] = '^'
		}
	}
	return string(b)
}
