import { describe, expect, it } from 'vitest'
import type { Rule } from '../src/api/client'
import {
  addressProblem, describeDestinations, describeTracking, draftFromRule, draftToNewRule, emptyDraft, previewable,
  ruleLabel, setTracking, tokenToArtifact, validateDraft,
} from '../src/rules/model'

const rule = (tracking_rule: Rule['tracking_rule']): Rule => ({
  id: 12,
  name: 'My packages',
  disabled: false,
  user: { id: 3, name: 'alice', is_admin: false },
  tracking_rule,
  generation_rules: [{
    destinations: [{ protocol: 'email', address: 'alice@example.org' }],
    filters: { applications: ['bodhi'], excluded_applications: [], severities: ['error'], topic: null, my_actions: false },
  }],
  generated_last_week: 3,
})

describe('draft ⇄ rule JSON', () => {
  it.each([
    { name: 'artifacts-owned', params: ['alice', 'bob'] },
    { name: 'artifacts-group-owned', params: ['infra'] },
    { name: 'artifacts-followed', params: [{ name: 'kernel', type: 'rpms' }, { name: 'fedora-toolbox', type: 'containers' }] },
    { name: 'related-events', params: null },
    { name: 'users-followed', params: ['carol'] },
  ] as Rule['tracking_rule'][])('round-trips $name', (tr) => {
    const r = rule(tr)
    const back = draftToNewRule(draftFromRule(r))
    expect(back).toEqual({ name: r.name, disabled: r.disabled, tracking_rule: tr, generation_rules: r.generation_rules })
  })

  it('sends an empty topic as null and trims text', () => {
    const d = emptyDraft('alice', [{ protocol: 'email', address: 'alice@example.org' }])
    d.name = '  Mine  '
    d.generation_rules[0].filters.topic = '   '
    const r = draftToNewRule(d)
    expect(r.name).toBe('Mine')
    expect(r.generation_rules[0].filters.topic).toBeNull()
    expect(r.tracking_rule).toEqual({ name: 'artifacts-owned', params: ['alice'] })
    expect(r.generation_rules[0].destinations).toEqual([{ protocol: 'email', address: 'alice@example.org' }])
  })

  it('starts "owned by" with the user when switching to it', () => {
    const d = emptyDraft('alice')
    d.users = []
    setTracking(d, 'users-followed', 'alice')
    expect(d.users).toEqual([])
    setTracking(d, 'artifacts-owned', 'alice')
    expect(d.users).toEqual(['alice'])
  })

  it('does not follow the user themselves when switching from the default owner', () => {
    const d = emptyDraft('alice')
    expect(d.users).toEqual(['alice'])
    setTracking(d, 'users-followed', 'alice')
    expect(d.users).toEqual([])
    d.users = ['alice', 'bob']
    setTracking(d, 'artifacts-owned', 'alice')
    setTracking(d, 'users-followed', 'alice')
    expect(d.users).toEqual(['alice', 'bob'])
  })

  it('leaves the addresses of other channels to the server', () => {
    expect(addressProblem('sse', 'alice')).toBeNull()
  })
})

describe('validateDraft', () => {
  it('accepts a complete draft', () => {
    const d = emptyDraft('alice', [{ protocol: 'email', address: 'alice@example.org' }])
    d.name = 'x'
    expect(validateDraft(d)).toEqual({ fields: {}, general: [] })
  })
  it('accepts a draft without a name (FMN since #805), sent as null', () => {
    const d = emptyDraft('alice', [{ protocol: 'email', address: 'alice@example.org' }])
    d.name = '  '
    expect(validateDraft(d)).toEqual({ fields: {}, general: [] })
    expect(draftToNewRule(d).name).toBeNull()
    expect(draftFromRule({ ...draftToNewRule(d), name: null }).name).toBe('')
    expect(ruleLabel({ name: null })).toBe('(unnamed rule)')
    expect(ruleLabel({ name: 'Mine' })).toBe('Mine')
  })
  it('names the fields that are wrong, with the API’s keys', () => {
    const d = emptyDraft('alice')
    d.tracking = 'artifacts-followed'
    d.generation_rules[0].destinations = [{ protocol: 'matrix', address: 'alice' }]
    d.generation_rules[0].filters.topic = 'org.*.[bodhi'
    d.generation_rules.push({ destinations: [], filters: { ...d.generation_rules[0].filters, topic: '' } })
    const fe = validateDraft(d)
    expect(Object.keys(fe.fields).sort()).toEqual([
      'generation_rules.0.destinations.0.address',
      'generation_rules.0.filters.topic',
      'generation_rules.1.destinations',
      'tracking_rule.params',
    ])
    expect(fe.fields['generation_rules.0.destinations.0.address'][0]).toMatch('@username:server.tld')
  })
})

describe('addressProblem', () => {
  it.each([
    ['email', 'alice@example.org', true],
    ['email', 'alice', false],
    ['email', 'a b@c.d', false],
    ['irc', 'alice_', true],
    ['irc', '9lives', false],
    ['matrix', '@alice:fedora.im', true],
    ['matrix', 'alice:fedora.im', false],
    ['matrix', '@alice', false],
    ['sms', '123', false],
  ])('%s %s ok=%s', (p, a, ok) => {
    expect(addressProblem(p, a) === null).toBe(ok)
  })
})

describe('descriptions for the list', () => {
  it('says what a rule tracks and where it sends', () => {
    expect(describeTracking(rule({ name: 'artifacts-owned', params: ['alice'] }))).toBe('Artifacts owned by alice')
    expect(describeTracking(rule({ name: 'users-followed', params: ['a', 'b', 'c', 'd', 'e'] }))).toBe('What a, b, c and 2 more do')
    expect(describeTracking(rule({ name: 'related-events', params: null }), 'alice')).toBe('Events about alice')
    expect(describeTracking(rule({ name: 'artifacts-followed', params: [{ name: 'kernel', type: 'rpms' }] }))).toBe('Following rpms/kernel')
    expect(describeTracking(rule({ name: 'artifacts-group-owned', params: ['infra', 'qa'] }))).toBe('Artifacts owned by groups infra, qa')
    const r = rule({ name: 'related-events', params: null })
    r.generation_rules!.push({ destinations: [{ protocol: 'email', address: 'alice@example.org' }, { protocol: 'irc', address: 'alice' }], filters: {} })
    expect(describeDestinations(r)).toBe('email: alice@example.org, irc: alice')
  })
  it('parses artifact tokens', () => {
    expect(tokenToArtifact('containers/foo')).toEqual({ type: 'containers', name: 'foo' })
    expect(tokenToArtifact('foo', 'modules')).toEqual({ type: 'modules', name: 'foo' })
    expect(tokenToArtifact('weird/foo')).toEqual({ type: 'rpms', name: 'weird/foo' })
  })
  it('knows when a preview makes sense', () => {
    const d = emptyDraft('')
    expect(previewable(d)).toBe(false)
    d.tracking = 'related-events'
    expect(previewable(d)).toBe(true)
  })
})
