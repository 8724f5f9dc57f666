// The rule form's model: a flat draft that the form edits, converted to and from the
// API's rule JSON (FMN v3 shape), checked before sending, and described in words for
// the rules list. Pure functions, no I/O.
import type { Artifact, Destination, NewRule, Rule, Schemas } from '../api/client'
import { noErrors, type FieldErrors } from '../api/problem'

export type TrackingName = 'artifacts-owned' | 'artifacts-group-owned' | 'artifacts-followed' | 'related-events' | 'users-followed'
export type Severity = 'debug' | 'info' | 'warning' | 'error'
export type ArtifactType = Artifact['type']
export type Protocol = Destination['protocol']

export const TRACKING: { name: TrackingName; label: string; help: string; param: 'users' | 'groups' | 'artifacts' | 'none' }[] = [
  { name: 'artifacts-owned', label: 'Artifacts owned by people', help: 'Messages about packages, containers, modules or flatpaks these people own or can commit to.', param: 'users' },
  { name: 'artifacts-group-owned', label: 'Artifacts owned by my groups', help: 'Messages about artifacts that one of these groups can administer or commit to.', param: 'groups' },
  { name: 'artifacts-followed', label: 'Artifacts I follow', help: 'Messages about these packages, containers, modules or flatpaks.', param: 'artifacts' },
  { name: 'related-events', label: 'Events about me', help: 'Messages that name you among their users.', param: 'none' },
  { name: 'users-followed', label: 'People I follow', help: 'Messages about what these people do.', param: 'users' },
]
export const SEVERITIES: Severity[] = ['debug', 'info', 'warning', 'error']
export const ARTIFACT_TYPES: ArtifactType[] = ['rpms', 'containers', 'modules', 'flatpaks']
export const PROTOCOLS: Protocol[] = ['email', 'irc', 'matrix', 'sse']

export interface FiltersDraft {
  applications: string[]
  excluded_applications: string[]
  severities: Severity[]
  topic: string
  my_actions: boolean
}
export interface GenerationDraft {
  destinations: Destination[]
  filters: FiltersDraft
}
export interface RuleDraft {
  name: string
  disabled: boolean
  tracking: TrackingName
  /** Params of artifacts-owned and users-followed. */
  users: string[]
  /** Params of artifacts-group-owned. */
  groups: string[]
  /** Params of artifacts-followed. */
  artifacts: Artifact[]
  generation_rules: GenerationDraft[]
}

export const emptyFilters = (): FiltersDraft => ({ applications: [], excluded_applications: [], severities: [], topic: '', my_actions: false })

export function emptyDraft(username: string, offered: Destination[] = []): RuleDraft {
  return {
    name: '',
    disabled: false,
    tracking: 'artifacts-owned',
    users: username ? [username] : [],
    groups: [],
    artifacts: [],
    generation_rules: [{ destinations: offered.slice(0, 1).map((d) => ({ ...d })), filters: emptyFilters() }],
  }
}

export function trackingInfo(name: string) {
  return TRACKING.find((t) => t.name === name)
}

export function draftFromRule(rule: Rule | NewRule): RuleDraft {
  const tr = rule.tracking_rule
  const params = (tr.params ?? []) as unknown[]
  const d: RuleDraft = {
    name: rule.name ?? '',
    disabled: !!rule.disabled,
    tracking: tr.name,
    users: [],
    groups: [],
    artifacts: [],
    generation_rules: (rule.generation_rules ?? []).map((g) => ({
      destinations: (g.destinations ?? []).map((x) => ({ ...x })),
      filters: {
        applications: [...(g.filters?.applications ?? [])],
        excluded_applications: [...(g.filters?.excluded_applications ?? [])],
        severities: [...(g.filters?.severities ?? [])],
        topic: g.filters?.topic ?? '',
        my_actions: !!g.filters?.my_actions,
      },
    })),
  }
  const kind = trackingInfo(tr.name)?.param
  if (kind === 'users') d.users = params.map(String)
  else if (kind === 'groups') d.groups = params.map(String)
  else if (kind === 'artifacts') d.artifacts = (params as Artifact[]).map((a) => ({ name: a.name, type: a.type }))
  if (!d.generation_rules.length) d.generation_rules.push({ destinations: [], filters: emptyFilters() })
  return d
}

/** The API's create/update shape, with every list and filter present. */
export interface RuleBody extends Omit<NewRule, 'generation_rules'> {
  generation_rules: { destinations: Destination[]; filters: Required<Schemas['Filters']> }[]
}

/** The API's create/update shape. */
export function draftToNewRule(d: RuleDraft): RuleBody {
  let tracking_rule: RuleBody['tracking_rule']
  switch (d.tracking) {
    case 'artifacts-followed':
      tracking_rule = { name: d.tracking, params: d.artifacts.map((a) => ({ name: a.name, type: a.type })) }
      break
    case 'artifacts-group-owned':
      tracking_rule = { name: d.tracking, params: [...d.groups] }
      break
    case 'related-events':
      tracking_rule = { name: d.tracking, params: null }
      break
    default:
      tracking_rule = { name: d.tracking, params: [...d.users] }
  }
  return {
    // A name is optional (FMN since #805): none is null.
    name: d.name.trim() || null,
    disabled: d.disabled,
    tracking_rule,
    generation_rules: d.generation_rules.map((g) => ({
      destinations: g.destinations.map((x) => ({ protocol: x.protocol, address: x.address.trim() })),
      filters: {
        applications: [...g.filters.applications],
        excluded_applications: [...g.filters.excluded_applications],
        severities: [...g.filters.severities],
        topic: g.filters.topic.trim() || null,
        my_actions: g.filters.my_actions,
      },
    })),
  }
}

/** Switches the tracking type, starting "owned by" with the user themselves. */
export function setTracking(d: RuleDraft, name: TrackingName, username: string): void {
  const onlyMe = d.users.length === 1 && d.users[0] === username
  d.tracking = name
  if (name === 'artifacts-owned' && d.users.length === 0 && username) d.users = [username]
  // Following yourself is not what "people I follow" means: drop the default owner.
  if (name === 'users-followed' && onlyMe) d.users = []
}

/** What is wrong with an address for a protocol, or null (DESIGN: Destinations). */
export function addressProblem(protocol: string, address: string): string | null {
  const a = address.trim()
  if (!a) return 'Enter an address.'
  switch (protocol) {
    case 'email':
      return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(a) ? null : 'An email address looks like name@example.org.'
    case 'irc':
      return /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]{0,31}$/.test(a) ? null : 'An IRC nick is letters, digits and [ ] \\ ` _ ^ { | } -, not starting with a digit.'
    case 'matrix':
      return /^@[a-z0-9._=/+-]+:[A-Za-z0-9.-]+\.[A-Za-z]{2,}(:\d+)?$/i.test(a) ? null : 'A Matrix address has the form @username:server.tld.'
    case 'sse':
      return /^[A-Za-z0-9._][A-Za-z0-9._-]*$/.test(a) ? null : 'Your live feed (sse) has your username as its address.'
    case 'sse':
      // The live feed in fmn's own pages: the address is the owner's username, which
      // the server checks.
      return null
    default:
      return `Unknown protocol ${protocol}.`
  }
}

/** Problems fmn would refuse anyway, found before sending; keys as the API's locations. */
export function validateDraft(d: RuleDraft): FieldErrors {
  const errs = noErrors()
  const add = (k: string, m: string) => (errs.fields[k] ??= []).push(m)
  if (d.name.length > 200) add('name', 'Keep the name under 200 characters.')
  const kind = trackingInfo(d.tracking)?.param
  if (kind === 'users' && d.users.length === 0) add('tracking_rule.params', d.tracking === 'users-followed' ? 'Choose at least one person to follow.' : 'Choose at least one owner.')
  if (kind === 'groups' && d.groups.length === 0) add('tracking_rule.params', 'Choose at least one group.')
  if (kind === 'artifacts' && d.artifacts.length === 0) add('tracking_rule.params', 'Choose at least one artifact.')
  if (d.generation_rules.length === 0) add('generation_rules', 'Add at least one delivery.')
  d.generation_rules.forEach((g, i) => {
    const p = `generation_rules.${i}`
    if (g.destinations.length === 0) add(`${p}.destinations`, 'Choose where to send notifications.')
    g.destinations.forEach((x, j) => {
      const m = addressProblem(x.protocol, x.address)
      if (m) add(`${p}.destinations.${j}.address`, m)
    })
    const t = g.filters.topic.trim()
    if (t && /\s/.test(t)) add(`${p}.filters.topic`, 'A topic pattern has no spaces.')
    if (t && (t.split('[').length !== t.split(']').length)) add(`${p}.filters.topic`, 'Close every [ with a ].')
  })
  return errs
}

/** How a rule is named in lists and messages: its name, or "(unnamed rule)". */
export function ruleLabel(rule: { name?: string | null }): string {
  return rule.name?.trim() || '(unnamed rule)'
}

/** Whether the draft has what a preview needs (a tracking rule with its params). */
export function previewable(d: RuleDraft): boolean {
  const kind = trackingInfo(d.tracking)?.param
  if (kind === 'users') return d.users.length > 0
  if (kind === 'groups') return d.groups.length > 0
  if (kind === 'artifacts') return d.artifacts.length > 0
  return true
}

function list(xs: string[], max = 3): string {
  if (xs.length <= max) return xs.join(', ')
  return `${xs.slice(0, max).join(', ')} and ${xs.length - max} more`
}

/** "Artifacts owned by alice, bob" — for the rules list. */
export function describeTracking(rule: Pick<NewRule, 'tracking_rule'>, owner = ''): string {
  const tr = rule.tracking_rule
  const params = (tr.params ?? []) as unknown[]
  switch (tr.name) {
    case 'artifacts-owned':
      return `Artifacts owned by ${list(params.map(String)) || 'nobody'}`
    case 'artifacts-group-owned':
      return `Artifacts owned by group${params.length === 1 ? '' : 's'} ${list(params.map(String)) || 'none'}`
    case 'artifacts-followed':
      return `Following ${list((params as Artifact[]).map((a) => `${a.type}/${a.name}`)) || 'nothing'}`
    case 'related-events':
      return owner ? `Events about ${owner}` : 'Events about me'
    case 'users-followed':
      return `What ${list(params.map(String)) || 'nobody'} do${params.length === 1 ? 'es' : ''}`
    default:
      return (tr as { name: string }).name
  }
}

/** "email: alice@example.org, irc: alice" — distinct destinations of all deliveries. */
export function describeDestinations(rule: Pick<NewRule, 'generation_rules'>): string {
  const seen = new Set<string>()
  for (const g of rule.generation_rules ?? []) for (const d of g.destinations ?? []) seen.add(`${d.protocol}: ${d.address}`)
  return seen.size ? list([...seen], 2) : 'nowhere'
}

export const destKey = (d: Destination) => `${d.protocol}:${d.address}`

/** Artifacts travel through the text pickers as "type/name". */
export function artifactToToken(a: Artifact): string {
  return `${a.type}/${a.name}`
}
export function tokenToArtifact(t: string, defaultType: ArtifactType = 'rpms'): Artifact {
  const i = t.indexOf('/')
  const type = i > 0 ? t.slice(0, i) : ''
  if ((ARTIFACT_TYPES as string[]).includes(type)) return { type: type as ArtifactType, name: t.slice(i + 1) }
  return { type: defaultType, name: t }
}

/** DOM id of the control for a field key, so error messages can point at it. */
export function fieldId(key: string): string {
  return 'f-' + key.replace(/[^A-Za-z0-9_-]+/g, '-')
}
