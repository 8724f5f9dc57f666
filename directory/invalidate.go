package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/fmn-project/fmn/distgit"
	"github.com/fmn-project/fmn/rules"
)

// Change is what a bus message changed in the directory.
type Change struct {
	// Users and Groups whose owned artifacts changed: the
	// artifacts-owned and artifacts-group-owned rules tracking them need
	// their index keys again.
	Users, Groups []string
	// Project is the dist-git artifact whose access changed (valid when
	// HasProject).
	Project    rules.Artifact
	HasProject bool
	// Invalidated counts the cache entries deleted.
	Invalidated int
}

// Owners reports whether the change concerns ownership at all.
func (c Change) Owners() bool { return len(c.Users)+len(c.Groups) > 0 || c.HasProject }

// Topics, without the "<org>.<env>." prefix.
const (
	topicUserCreate = "fas.user.create"
	topicUserUpdate = "fas.user.update"
	// topicGroupMember prefixes fas.group.member.sponsor, .remove, ...
	topicGroupMember = "fas.group.member."

	topicProjectUser  = "pagure.project.user."  // added, removed, access.updated
	topicProjectGroup = "pagure.project.group." // added, removed, access.updated
)

var accessEvents = []string{"added", "removed", "access.updated"}

// Relevant reports, from the topic alone, whether Invalidate may do
// anything with a message: a cheap test for the consumer's hot path.
func Relevant(topic string) bool {
	if !strings.Contains(topic, "fas.") && !strings.Contains(topic, "pagure.project.") {
		return false
	}
	t := "." + topic
	if hasTopic(t, topicUserCreate) || hasTopic(t, topicUserUpdate) || strings.Contains(t, "."+topicGroupMember) {
		return true
	}
	for _, e := range accessEvents {
		if hasTopic(t, topicProjectUser+e) || hasTopic(t, topicProjectGroup+e) {
			return true
		}
	}
	return false
}

// hasTopic reports whether the dotted topic t (with a leading dot) ends
// with the topic suffix.
func hasTopic(t, suffix string) bool { return strings.HasSuffix(t, "."+suffix) }

// Invalidate deletes the cache entries a bus message makes stale:
//
//   - fas.user.create, fas.user.update: the user's account and groups;
//   - fas.group.member.* (sponsor, remove, ...): the user's groups and the
//     group's members;
//   - pagure.project.user.added|removed|access.updated and
//     pagure.project.group.added|removed|access.updated, when the project's
//     full_url is on the configured dist-git: the project's access and the
//     artifacts owned by the user or group named in the message (all those
//     of the project when the message names none).
//
// Other messages, and access changes on another Pagure instance, change
// nothing. An error means Redis could not be told: handle the message
// again later.
func (d *Directory) Invalidate(ctx context.Context, topic string, body json.RawMessage) (Change, error) {
	if !Relevant(topic) {
		return Change{}, nil
	}
	t := "." + topic
	var keys []string
	var ch Change
	switch {
	case hasTopic(t, topicUserCreate), hasTopic(t, topicUserUpdate):
		m := decodeFAS(body)
		if m.User == "" {
			d.log.Warn("account message names no user; nothing invalidated", "topic", topic)
			return Change{}, nil
		}
		keys = append(keys, d.users.Key(m.User), d.userGroups.Key(m.User))
	case strings.Contains(t, "."+topicGroupMember):
		m := decodeFAS(body)
		if m.User != "" {
			keys = append(keys, d.userGroups.Key(m.User))
		}
		if m.Group != "" {
			keys = append(keys, d.members.Key(m.Group))
		}
	default:
		var ok bool
		if ch, _, ok = d.accessChange(topic, body); !ok {
			return Change{}, nil
		}
		for _, u := range ch.Users {
			keys = append(keys, d.owned.Key(u))
		}
		for _, g := range ch.Groups {
			keys = append(keys, d.groupOwned.Key(g))
		}
	}
	if len(keys) == 0 {
		return Change{}, nil
	}
	if err := d.cfg.Cache.Invalidate(ctx, keys...); err != nil {
		return Change{}, err
	}
	ch.Invalidated = len(keys)
	return ch, nil
}

// fasMessage is the part of a Noggin (FAS) message fmn reads: the body is
// {"msg": {"agent", "user", "group"}}, older ones put them at the top.
type fasMessage struct {
	User  string
	Group string
}

func decodeFAS(body json.RawMessage) fasMessage {
	var b struct {
		Msg   *struct{ User, Group name } `json:"msg"`
		User  name                        `json:"user"`
		Group name                        `json:"group"`
	}
	_ = json.Unmarshal(body, &b)
	m := fasMessage{User: string(b.User), Group: string(b.Group)}
	if b.Msg != nil {
		if b.Msg.User != "" {
			m.User = string(b.Msg.User)
		}
		if b.Msg.Group != "" {
			m.Group = string(b.Msg.Group)
		}
	}
	return m
}

// name is a username or group name, given as a string or as an object
// with "username", "name" or "groupname".
type name string

func (n *name) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*n = name(s)
		return nil
	}
	var o struct{ Username, Name, Groupname string }
	if err := json.Unmarshal(b, &o); err != nil {
		return nil // not a name: ignore
	}
	*n = name(cmpOr(o.Username, o.Name, o.Groupname))
	return nil
}

func cmpOr(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// accessMessage is the part of a pagure.project.{user,group}.* message
// fmn reads.
type accessMessage struct {
	Project struct {
		Name         string              `json:"name"`
		Namespace    string              `json:"namespace"`
		FullURL      string              `json:"full_url"`
		AccessUsers  map[string][]string `json:"access_users"`
		AccessGroups map[string][]string `json:"access_groups"`
	} `json:"project"`
	NewUser       name   `json:"new_user"`
	RemovedUser   name   `json:"removed_user"`
	User          name   `json:"user"`
	NewGroup      name   `json:"new_group"`
	RemovedGroup  name   `json:"removed_group"`
	RemovedGroups []name `json:"removed_groups"`
}

// accessChange reads an access change message and returns what it
// changes and the project's "namespace/name". ok is false when it must be
// ignored: another Pagure instance, no dist-git configured, a project
// outside the tracked namespaces, or no project at all.
func (d *Directory) accessChange(topic string, body json.RawMessage) (ch Change, project string, ok bool) {
	if d.distgitBase == "" {
		return Change{}, "", false
	}
	var m accessMessage
	if err := json.Unmarshal(body, &m); err != nil || m.Project.Name == "" {
		d.log.Warn("access change message without a project; ignored", "topic", topic)
		return Change{}, "", false
	}
	if !strings.HasPrefix(m.Project.FullURL, d.distgitBase+"/") {
		// Another Pagure (pagure.io) sends the same topics.
		return Change{}, "", false
	}
	t, ok := distgit.ArtifactType(m.Project.Namespace)
	if !ok {
		return Change{}, "", false
	}
	ch = Change{Project: rules.Artifact{Type: t, Name: m.Project.Name}, HasProject: true}
	isUser := strings.Contains(topic, topicProjectUser)
	if isUser {
		for _, n := range []name{m.NewUser, m.RemovedUser, m.User} {
			if n != "" && !slices.Contains(ch.Users, string(n)) {
				ch.Users = append(ch.Users, string(n))
			}
		}
		if len(ch.Users) == 0 {
			// Which user is not said: everyone the project lists may
			// have gained or lost it.
			ch.Users = everyone(m.Project.AccessUsers)
		}
	} else {
		for _, n := range append([]name{m.NewGroup, m.RemovedGroup}, m.RemovedGroups...) {
			if n != "" && !slices.Contains(ch.Groups, string(n)) {
				ch.Groups = append(ch.Groups, string(n))
			}
		}
		if len(ch.Groups) == 0 {
			ch.Groups = everyone(m.Project.AccessGroups)
		}
	}
	return ch, m.Project.Namespace + "/" + m.Project.Name, true
}

func everyone(levels map[string][]string) []string {
	var out []string
	for _, names := range levels {
		for _, n := range names {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}
