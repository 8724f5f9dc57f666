import { afterEach, describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import { createMemoryHistory, createRouter } from 'vue-router'
import { defineComponent, h } from 'vue'
import { RouterView } from 'vue-router'
import RuleEditView from '../src/views/RuleEditView.vue'
import RulesView from '../src/views/RulesView.vue'
import AdminRulesView from '../src/views/AdminRulesView.vue'
import AdminStatsView from '../src/views/AdminStatsView.vue'
import { SessionKey } from '../src/session'
import type { Rule } from '../src/api/client'
import { fakeSession, flush, json, type Handler } from './helpers'

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms))

const aliceRule: Rule = {
  id: 7,
  name: 'My packages',
  disabled: false,
  user: { id: 3, name: 'alice', is_admin: false },
  tracking_rule: { name: 'artifacts-owned', params: ['alice'] },
  generation_rules: [{ destinations: [{ protocol: 'email', address: 'alice@example.org' }], filters: { applications: [], excluded_applications: [], severities: [], topic: null, my_actions: false } }],
  generated_last_week: 4,
}

const common: Record<string, Handler> = {
  'GET /users/alice/destinations': () => json(200, [{ protocol: 'email', address: 'alice@example.org' }, { protocol: 'irc', address: 'alice' }]),
  'GET /users/alice/groups': () => json(200, ['infra']),
  'GET /applications': () => json(200, ['koji', 'bodhi']),
}

async function mountAt(path: string, routes: Record<string, Handler>, user: { id: number | null; name: string; is_admin: boolean } = { id: 3, name: 'alice', is_admin: false }) {
  const fake = fakeSession({ ...common, ...routes }, user)
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/', component: RulesView },
      { path: '/rules/new', component: RuleEditView },
      { path: '/rules/:id(\\d+)', component: RuleEditView },
      { path: '/admin/rules', component: AdminRulesView },
      { path: '/admin/stats', component: AdminStatsView },
    ],
  })
  await router.push(path)
  await router.isReady()
  const Root = defineComponent({ render: () => h(RouterView) })
  const w = mount(Root, { global: { plugins: [router], provide: { [SessionKey as symbol]: fake.session } }, attachTo: document.body })
  await flush()
  return { w, router, ...fake }
}

let cleanup: (() => void) | null = null
afterEach(() => {
  cleanup?.()
  cleanup = null
})

describe('new rule page', () => {
  it('creates a rule, with a debounced preview while editing', async () => {
    let created: unknown
    const previews: unknown[] = []
    const { w, router, requests } = await mountAt('/rules/new', {
      'POST /rule-preview': (_r, body) => {
        previews.push(body)
        return json(200, { notifications: [{ message_id: 'm1', topic: 'org.fedoraproject.prod.bodhi.update.comment', summary: 'bob commented on an update', sent_at: '2026-11-23T10:00:00Z', protocol: 'email', address: 'alice@example.org' }] })
      },
      'POST /users/alice/rules': (_r, body) => {
        created = body
        return json(201, { ...(body as object), id: 9, user: { name: 'alice' }, generated_last_week: 0 })
      },
    })
    cleanup = () => w.unmount()
    // The offered destinations and the user's groups came from the API.
    expect(w.findAll('.check-row').map((r) => r.text())).toEqual(['email alice@example.org', 'irc alice'])
    const topic = w.find('#f-generation_rules-0-filters-topic')
    for (const t of ['o', 'org.', 'org.fedoraproject.*', 'org.fedoraproject.*.bodhi.*']) {
      await topic.setValue(t)
      await wait(200)
    }
    expect(previews).toHaveLength(0)
    await w.find('#f-name').setValue('My rule')
    await wait(700)
    await flush()
    // One preview for the whole burst of typing, with the latest draft; the name
    // does not change what matches, so typing it asks nothing.
    expect(previews).toHaveLength(1)
    expect(previews[0]).toMatchObject({
      tracking_rule: { name: 'artifacts-owned', params: ['alice'] },
      generation_rules: [{ filters: { topic: 'org.fedoraproject.*.bodhi.*' } }],
    })
    await topic.setValue('')
    await wait(700)
    await flush()
    expect(previews).toHaveLength(2)
    expect(w.find('.preview .status').text()).toBe('1 notification.')
    expect(w.find('.preview-list').text()).toContain('bob commented on an update')

    await w.find('form').trigger('submit')
    await flush()
    expect(created).toEqual({
      name: 'My rule',
      disabled: false,
      tracking_rule: { name: 'artifacts-owned', params: ['alice'] },
      generation_rules: [{ destinations: [{ protocol: 'email', address: 'alice@example.org' }], filters: { applications: [], excluded_applications: [], severities: [], topic: null, my_actions: false } }],
    })
    expect(router.currentRoute.value.fullPath).toBe('/?saved=My+rule')
    expect(requests.filter((r) => r.method === 'POST' && r.path === '/users/alice/rules')).toHaveLength(1)
  })

  it('says why no destinations are offered when the account service is not configured', async () => {
    const { w } = await mountAt('/rules/new', {
      'GET /users/alice/destinations': () =>
        json(503, { title: 'Service Unavailable', status: 503, detail: 'Your destinations: account lookups (FASJSON, dist-git) are not configured on this server (FMN_FASJSON_URL, FMN_DISTGIT_URL).' }),
      'POST /rule-preview': () => json(200, { notifications: [] }),
    })
    cleanup = () => w.unmount()
    expect(w.find('.delivery .notice.error').text()).toBe(
      'Your addresses could not be loaded: Your destinations: account lookups (FASJSON, dist-git) are not configured on this server (FMN_FASJSON_URL, FMN_DISTGIT_URL).',
    )
    expect(w.text()).not.toContain('Your account has no email address')
  })

  it('does not send a draft the API would refuse, and says why', async () => {
    const { w, requests } = await mountAt('/rules/new', { 'POST /rule-preview': () => json(200, { notifications: [] }) })
    cleanup = () => w.unmount()
    await w.find('#f-name').setValue('n'.repeat(201))
    await w.find('form').trigger('submit')
    await flush()
    expect(w.find('#f-name-error').text()).toBe('Error: Keep the name under 200 characters.')
    expect(requests.some((r) => r.path === '/users/alice/rules')).toBe(false)
  })

  it('creates a rule without a name (null, as FMN), shown as "(unnamed rule)"', async () => {
    let created: { name?: unknown } | undefined
    const { w, router } = await mountAt('/rules/new', {
      'POST /rule-preview': () => json(200, { notifications: [] }),
      'POST /users/alice/rules': (_req, body) => {
        created = body as { name?: unknown }
        return json(200, { ...aliceRule, id: 8, name: null })
      },
      'GET /users/alice/rules': () => json(200, [{ ...aliceRule, id: 8, name: null }]),
    })
    cleanup = () => w.unmount()
    await w.find('form').trigger('submit')
    await flush()
    expect(created?.name).toBeNull()
    expect(router.currentRoute.value.fullPath).toBe('/?saved=(unnamed+rule)')
    await flush()
    expect(w.find('tbody tr th').text()).toBe('(unnamed rule)')
    expect(w.find('button[aria-label="Delete (unnamed rule)"]').exists()).toBe(true)
  })
})

describe('edit rule page', () => {
  it('sends If-Match, and maps a 422 to the field', async () => {
    let ifMatch: string | null = null
    const { w } = await mountAt('/rules/7', {
      'GET /users/alice/rules/7': () => json(200, aliceRule, { ETag: '"v41"' }),
      'POST /rule-preview': () => json(200, { notifications: [] }),
      'PUT /users/alice/rules/7': (req) => {
        ifMatch = req.headers.get('If-Match')
        return json(422, {
          title: 'Unprocessable Entity', status: 422, detail: 'validation failed',
          errors: [{ location: 'body.generation_rules[0].destinations[1].address', message: 'irc:alice is not one of your destinations' }],
        })
      },
    })
    cleanup = () => w.unmount()
    expect(w.find('h1').text()).toBe('Edit “My packages”')
    // The rule's count of the week; the history (no route here: 404) says it could not be loaded.
    expect(w.find('.rule-chart .last-week').text()).toBe('4 in the last week.')
    expect(w.find('.rule-chart svg').exists()).toBe(false)
    expect(w.find('.rule-chart .help').text()).toContain('The history could not be loaded')
    const boxes = w.findAll('.check-row input[type="checkbox"]')
    await boxes[1].setValue(true)
    await w.find('form').trigger('submit')
    await flush()
    expect(ifMatch).toBe('"v41"')
    expect(w.find('#f-generation_rules-0-destinations-1-address').text()).toBe('Error: irc:alice is not one of your destinations')
    expect(w.find('.error-summary').text()).toContain('Destination irc: alice: irc:alice is not one of your destinations')
    expect(document.activeElement).toBe(w.find('.error-summary').element)
  })

  for (const user of [{ id: 3, name: 'alice', is_admin: false }, { id: 3, name: 'alice', is_admin: true }]) {
    it(`shows ${user.is_admin ? 'an admin' : 'a user'} the rule’s notifications per day from its own statistics`, async () => {
      const today = new Date()
      const day = (daysAgo: number) =>
        new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - daysAgo)).toISOString()
      const daily = Array.from({ length: 30 }, (_, i) => ({ day: day(29 - i), total: i === 28 ? 3 : i === 29 ? 4 : 0 }))
      const { w, requests } = await mountAt(
        '/rules/7',
        {
          'GET /users/alice/rules/7': () => json(200, aliceRule, { ETag: '"v41"' }),
          'POST /rule-preview': () => json(200, { notifications: [], total: 0, truncated: false, complete: true, source: 'index', messages: 0 }),
          'GET /users/alice/rules/7/stats': () => json(200, { rule_id: 7, since: day(29), total: 7, daily }),
        },
        user,
      )
      cleanup = () => w.unmount()
      const req = requests.find((r) => r.path.startsWith('/users/alice/rules/7/stats'))!
      expect(new URLSearchParams(req.path.split('?')[1]).get('days')).toBe('30')
      expect(requests.some((r) => r.path.startsWith('/admin/'))).toBe(false)
      expect(w.find('.rule-chart figcaption').text()).toContain('Notifications per day, last 30 days: 7 in total')
      expect(w.findAll('.rule-chart rect.bar')).toHaveLength(30)
      // The same numbers as a table, for screen readers.
      const rows = w.findAll('.rule-chart table tbody tr')
      expect(rows).toHaveLength(30)
      expect(rows[29].findAll('td')[1].text()).toBe('4')
      expect(rows[28].findAll('td')[1].text()).toBe('3')
    })
  }

  it('says when someone else changed the rule (412)', async () => {
    const { w } = await mountAt('/rules/7', {
      'GET /users/alice/rules/7': () => json(200, aliceRule, { ETag: '"v41"' }),
      'POST /rule-preview': () => json(200, { notifications: [] }),
      'PUT /users/alice/rules/7': () => json(412, { title: 'Precondition Failed', status: 412 }),
    })
    cleanup = () => w.unmount()
    await w.find('form').trigger('submit')
    await flush()
    expect(w.find('.error-summary').text()).toContain('Someone changed this rule since you opened it')
  })
})

describe('rules list', () => {
  it('lists, disables with If-Match, and deletes after confirmation', async () => {
    const calls: string[] = []
    let current = { ...aliceRule }
    const { w } = await mountAt('/', {
      'GET /users/alice/rules': () => json(200, [current]),
      'GET /users/alice/rules/7': () => json(200, current, { ETag: '"v1"' }),
      'PUT /users/alice/rules/7': (req, body) => {
        calls.push(`PUT ${req.headers.get('If-Match')} disabled=${(body as Rule).disabled}`)
        current = { ...current, ...(body as Rule) }
        return json(200, current)
      },
      'DELETE /users/alice/rules/7': () => {
        calls.push('DELETE')
        return json(200, null) // FMN's answer
      },
    })
    cleanup = () => w.unmount()
    const row = w.find('tbody tr')
    expect(row.findAll('th, td').map((c) => c.text()).slice(0, 4)).toEqual(['My packages', 'Artifacts owned by alice', 'email: alice@example.org', '4'])
    await row.find('input[role="switch"]').setValue(false)
    await flush()
    expect(calls).toEqual(['PUT "v1" disabled=true'])
    expect(w.find('tbody tr').classes()).toContain('disabled')

    await w.find('button[aria-label="Delete My packages"]').trigger('click')
    await flush()
    expect(calls).toEqual(['PUT "v1" disabled=true'])
    const dialog = w.find('dialog')
    expect(dialog.text()).toContain('“My packages” will stop sending notifications')
    await dialog.find('button.danger').trigger('click')
    await flush()
    expect(calls).toEqual(['PUT "v1" disabled=true', 'DELETE'])
    expect(w.text()).toContain('You have no rules yet')
  })
})

describe('admin rules', () => {
  const admin = { id: 1, name: 'admin', is_admin: true }
  const queryOf = (path: string) => Object.fromEntries(new URLSearchParams(path.split('?')[1] ?? ''))
  const ruleLists = (requests: { method: string; path: string }[]) =>
    requests.filter((r) => r.method === 'GET' && r.path.startsWith('/admin/rules')).map((r) => queryOf(r.path))
  const loadMore = (w: ReturnType<typeof mount>) => w.findAll('button').find((b) => b.text() === 'Load more')

  // A fake GET /admin/rules over rules 1..n (odd ids alice's, even bob's, every third
  // disabled) that pages as fmn does: by id after `after`, a Link when a page is full.
  function pagedRules(n: number) {
    const all: Rule[] = Array.from({ length: n }, (_, i) => ({
      ...aliceRule,
      id: i + 1,
      name: `Rule ${i + 1}`,
      disabled: (i + 1) % 3 === 0,
      user: { id: (i + 1) % 2 ? 3 : 4, name: (i + 1) % 2 ? 'alice' : 'bob', is_admin: false },
    }))
    return (req: Request) => {
      const q = new URL(req.url).searchParams
      const limit = Number(q.get('limit') ?? Infinity)
      const after = Number(q.get('after') ?? 0)
      const page = all
        .filter((r) => r.id > after)
        .filter((r) => !q.has('username') || r.user.name === q.get('username'))
        .filter((r) => !q.has('disabled') || String(r.disabled) === q.get('disabled'))
        .slice(0, limit)
      const headers: Record<string, string> = {}
      if (page.length === limit) {
        const next = new URLSearchParams(q)
        next.set('after', String(page[page.length - 1].id))
        headers.Link = `</api/v1/admin/rules?${next}>; rel="next"`
      }
      return json(200, page, headers)
    }
  }

  it('disables another user’s rule with PATCH', async () => {
    const bobRule = { ...aliceRule, id: 8, name: 'Bob’s', user: { name: 'bob' } }
    let patched: unknown
    const { w, requests } = await mountAt('/admin/rules', {
      'GET /admin/rules': () => json(200, [bobRule]),
      'PATCH /admin/rules/8': (_r, body) => {
        patched = body
        return json(200, { ...bobRule, disabled: true })
      },
    }, admin)
    cleanup = () => w.unmount()
    expect(ruleLists(requests)).toEqual([{ limit: '200' }])
    expect(loadMore(w)).toBeUndefined()
    expect(w.find('.list-more .help').text()).toBe('1 rule shown.')
    await w.find('button[aria-label="Disable bob’s rule Bob’s"]').trigger('click')
    await flush()
    expect(patched).toEqual({ disabled: true })
    expect(w.find('tbody tr button').text()).toBe('Enable')
  })

  it('loads pages of 200 with Load more, keeping the filters', async () => {
    const { w, requests } = await mountAt('/admin/rules?username=bob', { 'GET /admin/rules': pagedRules(1000) }, admin)
    cleanup = () => w.unmount()
    expect(ruleLists(requests)).toEqual([{ username: 'bob', limit: '200' }])
    expect(w.findAll('tbody tr')).toHaveLength(200)
    expect(loadMore(w)).toBeDefined()
    expect(w.find('.list-more .help').text()).toBe('200 rules shown, more to load.')

    await loadMore(w)!.trigger('click')
    await flush()
    // The next page starts after the last id of the first: bob's 200th rule is 400.
    expect(ruleLists(requests).slice(1)).toEqual([{ username: 'bob', limit: '200', after: '400' }])
    const rows = w.findAll('tbody tr')
    expect(rows).toHaveLength(400)
    expect(rows[399].find('th').text()).toBe('Rule 800')
    expect(w.find('[role="status"]').text()).toBe('200 more rules loaded, 400 shown.')

    await loadMore(w)!.trigger('click')
    await flush()
    expect(ruleLists(requests).slice(2)).toEqual([{ username: 'bob', limit: '200', after: '800' }])
    expect(w.findAll('tbody tr')).toHaveLength(500)
    expect(w.findAll('tbody tr').map((r) => r.find('td').text()).every((u) => u === 'bob')).toBe(true)
    expect(loadMore(w)).toBeUndefined()
    expect(w.find('.list-more .help').text()).toBe('500 rules shown.')
    expect(w.find('[role="status"]').text()).toBe('100 more rules loaded, 500 shown: that is all of them.')

    // Other filters start again from the first page.
    await w.find('#admin-show').setValue('disabled')
    await wait(400)
    await flush()
    expect(ruleLists(requests).slice(3)).toEqual([{ username: 'bob', disabled: 'true', limit: '200' }])
    expect(w.findAll('tbody tr')).toHaveLength(166)
    expect(w.findAll('tbody tr.disabled')).toHaveLength(166)
    expect(loadMore(w)).toBeUndefined()
  })

  it('follows the Link header, and without one a full page’s last id', async () => {
    const rule = (id: number) => ({ ...aliceRule, id, name: `Rule ${id}` })
    const pages: Record<string, Response> = {
      // A Link wins even after a short page.
      '': json(200, [rule(3), rule(5)], { Link: '</api/v1/admin/rules?limit=200&after=9>; rel="next"' }),
      // A full page without Link (the header hidden from a cross-origin UI).
      '9': json(200, Array.from({ length: 200 }, (_, i) => rule(10 + i))),
      '209': json(200, []),
    }
    const { w, requests } = await mountAt('/admin/rules', {
      'GET /admin/rules': (req) => pages[new URL(req.url).searchParams.get('after') ?? ''],
    }, admin)
    cleanup = () => w.unmount()
    await loadMore(w)!.trigger('click')
    await flush()
    await loadMore(w)!.trigger('click')
    await flush()
    expect(ruleLists(requests).map((q) => q.after)).toEqual([undefined, '9', '209'])
    expect(w.findAll('tbody tr')).toHaveLength(202)
    expect(loadMore(w)).toBeUndefined()
    expect(w.find('[role="status"]').text()).toBe('0 more rules loaded, 202 shown: that is all of them.')
  })

  it('drops a page that comes back after the filters changed', async () => {
    let release: () => void = () => undefined
    const paged = pagedRules(1000)
    const { w, requests } = await mountAt('/admin/rules', {
      'GET /admin/rules': async (req) => {
        if (new URL(req.url).searchParams.has('after')) await new Promise<void>((r) => (release = r))
        return paged(req)
      },
    }, admin)
    cleanup = () => w.unmount()
    await loadMore(w)!.trigger('click')
    await flush()
    expect(loadMore(w)).toBeUndefined()
    expect(w.find('.list-more button').text()).toBe('Loading…')
    await w.find('#admin-user').setValue('alice')
    await wait(400)
    await flush()
    release()
    await flush()
    expect(ruleLists(requests)).toEqual([{ limit: '200' }, { limit: '200', after: '200' }, { username: 'alice', limit: '200' }])
    const rows = w.findAll('tbody tr')
    expect(rows).toHaveLength(200)
    expect(rows.every((r) => r.find('td').text() === 'alice')).toBe(true)
    expect(loadMore(w)).toBeDefined()
    expect(w.find('.list-more .help').text()).toBe('200 rules shown, more to load.')
  })

  it('says when more rules could not be loaded, and keeps the ones shown', async () => {
    const paged = pagedRules(300)
    const { w } = await mountAt('/admin/rules', {
      'GET /admin/rules': (req) =>
        new URL(req.url).searchParams.has('after') ? json(503, { title: 'Service Unavailable', status: 503, detail: 'The rule store is unavailable: try again later.' }) : paged(req),
    }, admin)
    cleanup = () => w.unmount()
    await loadMore(w)!.trigger('click')
    await flush()
    expect(w.find('[role="alert"]').text()).toBe('More rules could not be loaded: The rule store is unavailable: try again later.')
    expect(w.findAll('tbody tr')).toHaveLength(200)
    expect(loadMore(w)).toBeDefined()
  })
})

describe('statistics page', () => {
  it('shows the overview, notifications per day and the top lists of the range', async () => {
    const today = new Date()
    const at = (daysAgo: number) => new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - daysAgo, 5)).toISOString()
    const { w, requests } = await mountAt(
      '/admin/stats',
      {
        'GET /admin/stats': () =>
          json(200, {
            since: at(6), until: at(0), generated: 12,
            generated_by_channel: [{ key: 'email', total: 10 }, { key: 'matrix', total: 2 }],
            deliveries: [{ channel: 'email', sent: 9, retried: 2, dead: 1 }],
            activity: { active_users: 3, users: 5, enabled_rules: 7, disabled_rules: 1 },
          }),
        'GET /admin/stats/hourly': () => json(200, [{ hour: at(2), total: 5 }, { hour: at(0), total: 7 }]),
        'GET /admin/stats/rules': () => json(200, [{ rule_id: 4, name: 'My packages', user: 'alice', total: 9 }, { rule_id: 2, name: '', user: '', total: 3 }]),
        'GET /admin/stats/users': () => json(200, [{ key: 'alice', total: 9 }]),
        'GET /admin/stats/applications': () => json(200, null),
      },
      { id: 1, name: 'root', is_admin: true },
    )
    cleanup = () => w.unmount()
    expect(w.findAll('.stat-grid dd').map((d) => d.text())).toEqual(['12', '3 of 5', '7', '1'])
    expect(w.find('.chart figcaption').text()).toContain('Notifications per day: 12 in total')
    expect(w.findAll('.chart rect.bar')).toHaveLength(7)
    const table = (caption: string) => w.findAll('table.stats').find((t) => t.find('caption').text() === caption)!
    expect(table('Deliveries per channel').findAll('tbody tr').map((r) => r.text())).toEqual(['email10921', 'irc0000', 'matrix2000'])
    expect(table('Rules that sent the most').findAll('tbody tr').map((r) => r.text())).toEqual(['My packagesalice9', 'rule 2 (deleted)3'])
    expect(table('Applications').text()).toContain('None in this range.')
    // One range for every request: since, 00:00 UTC six days ago.
    const since = new Set(requests.map((r) => new URLSearchParams(r.path.split('?')[1]).get('since')))
    expect([...since]).toHaveLength(1)
    expect([...since][0]).toMatch(/T00:00:00.000Z$/)
  })
})
