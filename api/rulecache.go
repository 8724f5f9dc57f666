package api

import (
	"container/list"
	"sync"

	"github.com/fmn-project/fmn/rulelog"
)

// ruleListCache keeps the last answer of GET /users/{u}/rules of the users
// that read them most recently, each with the version it was read at
// (rulelog.AnswerVersion). The projections give a user a new version in
// every transaction that changes the answer, so a cached answer whose
// version is still the user's is the answer PostgreSQL would give: a hit
// costs one lookup of two rows instead of reading every rule and summing a
// week of its counts, and is never stale, whichever instance wrote the
// change. The cache is bounded by the rules it holds; the least recently
// read users go first.
type ruleListCache struct {
	max int // rules held at most

	mu    sync.Mutex
	rules int // rules held
	users map[string]*list.Element
	lru   list.List // of *cachedRules, most recently read first
}

type cachedRules struct {
	user string
	v    rulelog.AnswerVersion
	// body is shared by every request it answers: read, never changed.
	body []Rule
}

// newRuleListCache holds up to max rules; nil (no cache) when max <= 0.
func newRuleListCache(max int) *ruleListCache {
	if max <= 0 {
		return nil
	}
	return &ruleListCache{max: max, users: map[string]*list.Element{}}
}

// get is user's cached answer, if any, and its version.
func (c *ruleListCache) get(user string) (*cachedRules, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.users[user]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*cachedRules), true
}

// put keeps body as user's answer at version v (which must be valid). An
// answer larger than the whole cache is not kept.
func (c *ruleListCache) put(user string, v rulelog.AnswerVersion, body []Rule) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forget(user)
	if len(body) > c.max {
		return
	}
	c.users[user] = c.lru.PushFront(&cachedRules{user: user, v: v, body: body})
	c.rules += len(body)
	for c.rules > c.max {
		c.remove(c.lru.Back())
	}
}

// drop forgets user's answer.
func (c *ruleListCache) drop(user string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forget(user)
}

// forget drops user's answer; c.mu is held.
func (c *ruleListCache) forget(user string) {
	if e, ok := c.users[user]; ok {
		c.remove(e)
	}
}

// remove drops e's answer; c.mu is held.
func (c *ruleListCache) remove(e *list.Element) {
	cr := c.lru.Remove(e).(*cachedRules)
	delete(c.users, cr.user)
	c.rules -= len(cr.body)
}

// len is how many users and rules the cache holds.
func (c *ruleListCache) len() (users, rules int) {
	if c == nil {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.users), c.rules
}
