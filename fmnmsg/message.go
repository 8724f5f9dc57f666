// Package fmnmsg publishes FMN's own messages on the AMQP bus: what FMN v3
// publishes when a rule changes (the fmn-messages schemas
// fmn.rule.create.v1, fmn.rule.update.v1 and fmn.rule.delete.v1), built
// from the events of the RULES stream and published in fedora-messaging's
// wire format, so that a service listening to FMN keeps working with fmn.
//
// Delivery is at least once: a durable consumer on RULES ("amqp-publisher"
// by default) keeps the position, and an event is acknowledged only after
// RabbitMQ confirmed its message. A message's id is derived from the
// stream and the event's sequence, so a redelivered one is recognisable.
package fmnmsg

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/rules"
	"github.com/google/uuid"
)

// The schemas of fmn-messages (fmn_messages.rule) and the topics their
// classes publish on. RuleCreateV1's topic is fmn.rule.update.v1 in
// fmn-messages, not fmn.rule.create.v1: a listener tells a creation from
// an update by the fedora_messaging_schema header. fmn publishes what FMN
// publishes, so that a listener bound to FMN's topics sees the same.
const (
	SchemaCreate = "fmn.rule.create.v1"
	SchemaUpdate = "fmn.rule.update.v1"
	SchemaDelete = "fmn.rule.delete.v1"

	TopicCreate = "fmn.rule.update.v1"
	TopicUpdate = "fmn.rule.update.v1"
	TopicDelete = "fmn.rule.delete.v1"

	// SchemaPackage is the header fedora_messaging_schema_package of the
	// fmn-messages classes.
	SchemaPackage = "fmn_messages"
	// SeverityInfo is fedora-messaging's INFO, the severity of every FMN
	// message.
	SeverityInfo = 20
)

// Header names of fedora-messaging's wire format.
const (
	HeaderSchema        = "fedora_messaging_schema"
	HeaderSchemaPackage = "fedora_messaging_schema_package"
	HeaderSeverity      = "fedora_messaging_severity"
	HeaderSentAt        = "sent-at"
	HeaderPriority      = "priority"
)

// Message is one FMN message as fedora-messaging puts it on the wire.
type Message struct {
	// ID is the AMQP message_id: a UUID derived from the RULES stream and
	// the event's sequence (MessageID).
	ID string
	// Schema is the fedora_messaging_schema header; Topic the topic
	// without the deployment's prefix.
	Schema, Topic string
	// SentAt is when the API accepted the change, to the second, as
	// fedora-messaging's sent-at.
	SentAt time.Time
	// Body is the JSON body, encoded as Python's json.dumps writes it
	// (fedora-messaging's encoding): the bytes FMN would send.
	Body []byte
}

// RoutingKey is the message's topic with the deployment's prefix
// (fedora-messaging's topic_prefix; none when empty).
func (m Message) RoutingKey(prefix string) string {
	if prefix == "" {
		return m.Topic
	}
	return trimDots(prefix) + "." + m.Topic
}

func trimDots(s string) string {
	for len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

// Headers are the message's fedora-messaging headers: schema, schema
// package, sent-at, severity and priority. FMN's messages name no users,
// packages or groups, so they carry no filter headers.
func (m Message) Headers() map[string]any {
	return map[string]any{
		HeaderSchema:        m.Schema,
		HeaderSchemaPackage: SchemaPackage,
		HeaderSentAt:        SentAt(m.SentAt),
		HeaderSeverity:      int32(SeverityInfo),
		HeaderPriority:      int32(0),
	}
}

// SentAt formats t as fedora-messaging's sent-at header: UTC, whole
// seconds, Python's isoformat ("2024-06-01T12:00:00+00:00").
func SentAt(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05") + "+00:00"
}

// messageIDSpace is the UUID namespace of MessageID.
var messageIDSpace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/fmn-project/fmn/fmnmsg"))

// MessageID is the id of the message of the event at seq of stream: the
// same on every redelivery, different for every event.
func MessageID(stream string, seq uint64) string {
	return uuid.NewSHA1(messageIDSpace, []byte(stream+"/"+strconv.FormatUint(seq, 10))).String()
}

// User is FMN's user object (fmn.api.api_models.User) in the order
// pydantic dumps it. fmn's user id is the RULES sequence of the event that
// first recorded the user; is_admin is false, as FMN's database has it.
type User struct {
	ID      *int64 `json:"id"`
	Name    string `json:"name"`
	IsAdmin bool   `json:"is_admin"`
}

// The rule as FMN's api_models.Rule.model_dump() writes it: the fields of
// NewRule, then id, user and generated_last_week (always 0 in FMN's
// messages: the count is computed only for the API's listings).
type ruleBody struct {
	Name              *string             `json:"name"`
	Disabled          bool                `json:"disabled"`
	TrackingRule      rules.TrackingRule  `json:"tracking_rule"`
	GenerationRules   []generationRuleOut `json:"generation_rules"`
	ID                int64               `json:"id"`
	User              User                `json:"user"`
	GeneratedLastWeek int64               `json:"generated_last_week"`
}

type generationRuleOut struct {
	ID           int64               `json:"id"`
	Destinations []rules.Destination `json:"destinations"`
	Filters      rules.Filters       `json:"filters"`
}

type body struct {
	Rule ruleBody `json:"rule"`
	User User     `json:"user"`
}

// Body encodes the body of an FMN rule message: {"rule": <the rule as
// FMN's API serializes it>, "user": <its owner>}, with Python's json.dumps
// separators and escapes, as fedora-messaging sends it.
func Body(r rules.Rule, owner User) ([]byte, error) {
	rb := ruleBody{
		Disabled:        r.Disabled,
		TrackingRule:    r.TrackingRule,
		GenerationRules: make([]generationRuleOut, len(r.GenerationRules)),
		ID:              r.ID,
		User:            owner,
	}
	if r.Name != "" {
		name := r.Name
		rb.Name = &name
	}
	if len(rb.TrackingRule.Params) == 0 {
		rb.TrackingRule.Params = json.RawMessage("null")
	}
	for i, g := range r.GenerationRules {
		f := g.Filters
		f.Applications = nonNil(f.Applications)
		f.ExcludedApplications = nonNil(f.ExcludedApplications)
		f.Severities = nonNil(f.Severities)
		dests := g.Destinations
		if dests == nil {
			dests = []rules.Destination{}
		}
		rb.GenerationRules[i] = generationRuleOut{ID: rules.GenerationRuleID(r.ID, i), Destinations: dests, Filters: f}
	}
	data, err := json.Marshal(body{Rule: rb, User: owner})
	if err != nil {
		return nil, fmt.Errorf("encode the message of rule %d: %w", r.ID, err)
	}
	return []byte(bus.PyJSON(bus.ValueOf(data), -1, false)), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
