// End-to-end test of the web UI in Debian's Chromium (playwright-core) against a real
// `fmn dev`: its development OIDC provider on loopback (authorization code + PKCE,
// refresh tokens), its embedded NATS, PostgreSQL in a fresh schema, Redis under a
// fresh prefix, and stand-ins for FASJSON and dist-git (e2e/peers).
//
// alice logs in, creates a rule of each tracking type while the preview lists the
// bus messages published beforehand with `fmn publish`, sees a rule's count go up
// after a matching message, gets an API validation error next to the field while
// editing, deletes a rule, and uses the app at phone width; root, an admin, disables
// alice's rule, reads the statistics and pages through more rules than the admin
// list's page of 200, and sets the default rules, which bob gets when he first logs
// in; bob then sets a digest and pauses a destination (Delivery page); the provider
// refusing mallory is said so.
// No console errors anywhere. Screenshots go to test-artifacts/ui/.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { artifactsDir, launch, newPage, shot } from './browser.mjs'
import { busMessage, startSystem } from './system.mjs'
import { normalize, schemaSource, serialize } from '../scripts/openapi-types.mjs'

const PASSWORD = 'verysecure'
const shots = []
let browser
let fmn

// What was on the bus before any rule existed: one message for each tracking type.
const seed = {
  owned: busMessage({ topic: 'org.fedoraproject.prod.bodhi.update.comment', agent: 'carol', users: ['carol'], rpms: ['firefox'], summary: 'carol commented on update firefox-131.0-1.fc43' }),
  group: busMessage({ topic: 'org.fedoraproject.prod.pagure.git.receive', agent: 'carol', users: ['carol'], rpms: ['ansible'], summary: 'carol pushed 2 commits to rpms/ansible' }),
  followed: busMessage({ topic: 'org.fedoraproject.prod.buildsys.build.state.change', agent: 'dave', rpms: ['kernel'], summary: 'kernel-6.12.1-200.fc43 completed' }),
  related: busMessage({ topic: 'org.fedoraproject.prod.fas.group.member.sponsor', agent: 'carol', users: ['carol', 'alice'], summary: 'carol sponsored alice into packager' }),
  people: busMessage({ topic: 'org.fedoraproject.prod.copr.build.end', agent: 'bob', users: ['bob'], summary: 'bob’s copr build of hello-2.12 succeeded' }),
  other: busMessage({ topic: 'org.fedoraproject.prod.bodhi.update.comment', agent: 'dave', users: ['dave'], rpms: ['vim'], summary: 'dave commented on update vim-9.1-1.fc43' }),
}

before(async () => {
  ;[fmn, browser] = await Promise.all([startSystem({ artifacts: artifactsDir }), launch()])
  console.log(`fmn dev at ${fmn.url}, login provider ${fmn.issuer} (go build ${fmn.buildMs} ms, ready after ${fmn.startMs} ms)`)
  await fmn.publish(Object.values(seed))
})
after(async () => {
  await browser?.close()
  await fmn?.stop()
  if (shots.length) console.log('screenshots:\n  ' + shots.join('\n  '))
})

/** Logs in at fmn dev's provider, through its login form. */
async function login(page, user, { expectRules = true } = {}) {
  await page.goto(fmn.url + '/')
  await page.getByRole('heading', { name: 'Notifications from fmn' }).waitFor()
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.waitForURL((u) => u.href.startsWith(fmn.issuer + '/login/username'))
  await page.getByLabel('Username').fill(user)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Log in' }).click()
  if (expectRules) await page.getByRole('heading', { name: 'Your rules' }).waitFor()
}

/** Drops the console errors a step causes on purpose (the browser logs every 4xx). */
function expected(problems, re) {
  for (let i = problems.length - 1; i >= 0; i--) if (re.test(problems[i])) problems.splice(i, 1)
}

const previewItems = (page) => page.locator('.preview-list li .summary')

async function newRule(page, name, choose) {
  await page.getByRole('link', { name: 'New rule', exact: true }).first().click()
  await page.getByRole('heading', { name: 'New rule' }).waitFor()
  await page.getByRole('textbox', { name: 'Name', exact: true }).fill(name)
  await choose()
}

async function expectPreview(page, summaries) {
  await page.locator('.preview .status').filter({ hasText: /notifications?\.$/ }).waitFor()
  const got = (await previewItems(page).allInnerTexts()).map((s) => s.trim()).sort()
  assert.deepEqual(got, [...summaries].sort())
}

async function save(page, name) {
  await page.getByRole('button', { name: /^(Create rule|Save changes)$/ }).click()
  await page.getByRole('heading', { name: 'Your rules' }).waitFor()
  await page.getByRole('link', { name, exact: true }).waitFor()
}

const row = (page, name) => page.locator('table.rules tbody tr').filter({ has: page.getByRole('link', { name, exact: true }) })

describe('fmn web UI against a real fmn', () => {
  // The typed client is generated from the document this fmn serves; after an API
  // change, FMN_E2E_UPDATE_OPENAPI=1 npm run e2e (or npm run gen:api -- --fetch URL)
  // saves it again.
  it('has its API types from this fmn’s OpenAPI document', async () => {
    const res = await fetch(fmn.url + '/api/v1/openapi.json')
    assert.equal(res.status, 200)
    const served = normalize(await res.json())
    const savedFile = fileURLToPath(new URL('../openapi.json', import.meta.url))
    const typesFile = fileURLToPath(new URL('../src/api/schema.d.ts', import.meta.url))
    const { source } = await schemaSource(served)
    if (process.env.FMN_E2E_UPDATE_OPENAPI === '1') {
      await writeFile(savedFile, serialize(served))
      await writeFile(typesFile, source)
      return
    }
    const hint = 'ui/openapi.json or src/api/schema.d.ts is stale: run FMN_E2E_UPDATE_OPENAPI=1 npm run e2e (in ui/), then npm run build'
    assert.deepEqual(JSON.parse(await readFile(savedFile, 'utf8')), served, hint)
    assert.equal(await readFile(typesFile, 'utf8'), source, hint)
  })

  it('says clearly when the login provider refuses the login', async () => {
    const { context, page, problems } = await newPage(browser)
    try {
      const res = await page.goto(fmn.url + '/rules/1')
      assert.equal(res.status(), 200)
      await page.getByRole('heading', { level: 1 }).waitFor()
      assert.match(page.url(), /\/login\?next=(%2F|\/)rules(%2F|\/)1$/)
      assert.match(await page.title(), /^Log in · fmn$/)
      shots.push(await shot(page, 'login'))
      await page.getByRole('button', { name: 'Log in' }).click()
      await page.waitForURL((u) => u.href.startsWith(fmn.issuer + '/login/username'))
      shots.push(await shot(page, 'provider-login'))
      await page.getByLabel('Username').fill('mallory')
      await page.getByLabel('Password').fill(PASSWORD)
      await page.getByRole('button', { name: 'Log in' }).click()
      const alert = page.getByRole('alert').filter({ hasText: 'refused' })
      await alert.waitFor()
      assert.equal(await alert.innerText(), 'The login provider refused the login: the user is not allowed to use this application (access_denied).')
      shots.push(await shot(page, 'login-refused'))
      assert.deepEqual(problems, [])
    } finally {
      await context.close()
    }
  })

  it('alice creates a rule of each tracking type with the preview, sees a count go up, gets an API error while editing, and deletes', async () => {
    const { context, page, problems } = await newPage(browser)
    try {
      await login(page, 'alice')
      await page.getByText('You have no rules yet').waitFor()
      shots.push(await shot(page, 'rules-empty'))

      // Artifacts owned by people: alice is the owner by default; dist-git says she owns firefox.
      await newRule(page, 'My packages', async () => {})
      await expectPreview(page, [seed.owned.body.summary])
      shots.push(await shot(page, 'rule-new-preview'))
      await save(page, 'My packages')

      // Artifacts owned by my groups: infra (from FASJSON) can commit to ansible.
      await newRule(page, 'Infra packages', async () => {
        await page.getByText('Artifacts owned by my groups').click()
        await page.getByRole('checkbox', { name: 'infra' }).check()
      })
      await expectPreview(page, [seed.group.body.summary])
      await save(page, 'Infra packages')

      // Artifacts I follow: kernel, found through /artifacts (dist-git), with the keyboard.
      await newRule(page, 'Kernel builds', async () => {
        await page.getByText('Artifacts I follow').click()
        const picker = page.getByRole('combobox', { name: 'Artifacts' })
        await picker.fill('kern')
        await page.getByRole('option', { name: 'kernel (rpms)' }).waitFor()
        await page.getByRole('option', { name: 'kernel-headers (rpms)' }).waitFor()
        await picker.press('ArrowDown')
        await picker.press('Enter')
        await page.getByRole('button', { name: /Remove kernel/ }).waitFor()
      })
      await expectPreview(page, [seed.followed.body.summary])
      shots.push(await shot(page, 'rule-new-artifacts'))
      await save(page, 'Kernel builds')

      // Events about me.
      await newRule(page, 'About me', async () => {
        await page.getByText('Events about me').click()
      })
      await expectPreview(page, [seed.related.body.summary])
      await save(page, 'About me')

      // People I follow: bob, found through /users (FASJSON); his copr build shows.
      await newRule(page, 'What bob does', async () => {
        await page.getByText('People I follow').click()
        const picker = page.getByRole('combobox', { name: 'People to follow' })
        await picker.fill('bo')
        await page.getByRole('option', { name: 'bob', exact: true }).click()
      })
      await expectPreview(page, [seed.people.body.summary])
      await save(page, 'What bob does')

      const rows = page.locator('table.rules tbody tr')
      assert.equal(await rows.count(), 5)
      assert.match(await row(page, 'Kernel builds').innerText(), /Following rpms\/kernel[\s\S]*email: alice@example.org[\s\S]*\b0\b/)
      shots.push(await shot(page, 'rules-list'))

      // A matching message: the rule's count of the week goes up (consumer → NOTIFY →
      // statistics), here within seconds.
      const t0 = Date.now()
      await fmn.publish([busMessage({ topic: 'org.fedoraproject.prod.buildsys.build.state.change', agent: 'dave', rpms: ['kernel'], summary: 'kernel-6.12.2-200.fc43 completed' })])
      const lastWeek = row(page, 'Kernel builds').locator('td[data-label="Last week"]')
      for (;;) {
        if ((await lastWeek.innerText()).trim() === '1') break
        assert.ok(Date.now() - t0 < 20_000, 'the count of Kernel builds did not reach 1 within 20s')
        await new Promise((r) => setTimeout(r, 250))
        await page.reload()
        await page.getByRole('heading', { name: 'Your rules' }).waitFor()
        await rows.first().waitFor()
      }
      console.log(`count went up ${Date.now() - t0} ms after fmn publish`)
      assert.equal((await row(page, 'My packages').locator('td[data-label="Last week"]').innerText()).trim(), '0')

      // Edit: the count and the preview of the stored rule; then a name the API refuses
      // (not an account name), shown next to the people picker and in the summary.
      await page.getByRole('link', { name: 'What bob does', exact: true }).click()
      await page.getByRole('heading', { name: 'Edit “What bob does”' }).waitFor()
      await page.locator('.rule-chart .last-week').waitFor()
      // alice is no admin: the chart comes from the rule's own statistics.
      await page.locator('.rule-chart figcaption').waitFor()
      assert.match(await page.locator('.rule-chart figcaption').innerText(), /Notifications per day, last 30 days: \d+ in total/)
      assert.equal(await page.locator('.rule-chart rect.bar').count(), 30)
      await expectPreview(page, [seed.people.body.summary])
      shots.push(await shot(page, 'rule-edit'))
      const people = page.getByRole('combobox', { name: 'People to follow' })
      await people.fill('bob smith')
      await people.press('Enter')
      await page.getByRole('button', { name: 'Save changes' }).click()
      const fieldError = page.locator('#f-tracking_rule-params-error')
      await fieldError.waitFor()
      assert.match(await fieldError.innerText(), /"bob smith" is not valid/)
      assert.match(await page.locator('.error-summary').innerText(), /What it tracks: .*"bob smith" is not valid/)
      assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('error-summary')), true)
      shots.push(await shot(page, 'rule-edit-error'))
      expected(problems, /status of 422/)
      // Fixed, it saves.
      await page.getByRole('button', { name: 'Remove bob smith' }).click()
      await save(page, 'What bob does')
      // The debounced preview of the draft with "bob smith" is refused too (422): when
      // it fires after the save's refusal, its console line comes after the one above.
      expected(problems, /status of 422 .*\/api\/v1\/rule-preview/)

      // Delete, with confirmation.
      await page.getByRole('button', { name: 'Delete About me' }).click()
      const dialog = page.getByRole('dialog', { name: 'Delete this rule?' })
      await dialog.waitFor()
      shots.push(await shot(page, 'delete-dialog'))
      await dialog.getByRole('button', { name: 'Delete' }).click()
      await page.getByRole('link', { name: 'About me', exact: true }).waitFor({ state: 'detached' })
      await page.reload()
      await rows.first().waitFor()
      assert.equal(await rows.count(), 4)

      await page.getByRole('button', { name: 'Log out' }).click()
      await page.getByRole('heading', { name: 'Notifications from fmn' }).waitFor()
      assert.deepEqual(problems, [])
    } finally {
      await context.close()
    }
  })

  it('works at phone width, and renews an expired session with the refresh token', async () => {
    const { context, page, problems } = await newPage(browser, { width: 390, height: 844 })
    try {
      await login(page, 'alice')
      await page.locator('table.rules tbody tr').first().waitFor()

      // The access token expires (the provider's last 5 minutes): on the next load the
      // app renews it with its refresh token (scope offline_access), without a login page.
      const key = `oidc.user:${fmn.issuer}:fmn`
      const before = await page.evaluate((k) => JSON.parse(sessionStorage.getItem(k)), key)
      assert.ok(before?.refresh_token, 'no refresh token: is offline_access among the scopes?')
      await page.evaluate(([k, u]) => sessionStorage.setItem(k, JSON.stringify({ ...u, expires_at: Math.floor(Date.now() / 1000) - 60 })), [key, before])
      const grants = []
      page.on('request', (r) => {
        if (r.url() === fmn.issuer + '/oauth/token') grants.push(new URLSearchParams(r.postData() ?? '').get('grant_type'))
      })
      await page.reload()
      await page.locator('table.rules tbody tr').first().waitFor()
      assert.deepEqual(grants, ['refresh_token'])
      const after = await page.evaluate((k) => JSON.parse(sessionStorage.getItem(k)), key)
      assert.notEqual(after.access_token, before.access_token)
      assert.ok(after.expires_at > Date.now() / 1000)
      const width = await page.evaluate(() => document.documentElement.scrollWidth)
      assert.ok(width <= 390, `rules page is ${width}px wide at 390px`)
      shots.push(await shot(page, 'phone-rules-list'))
      await page.getByRole('link', { name: 'My packages', exact: true }).click()
      await expectPreview(page, [seed.owned.body.summary])
      const w2 = await page.evaluate(() => document.documentElement.scrollWidth)
      assert.ok(w2 <= 390, `edit page is ${w2}px wide at 390px`)
      shots.push(await shot(page, 'phone-rule-edit'))
      assert.equal(await page.getByRole('link', { name: 'All rules' }).count(), 0)
      assert.deepEqual(problems, [])
    } finally {
      await context.close()
    }
  })

  it('root, an admin, disables alice’s rule and reads the statistics', async () => {
    const { context, page, problems } = await newPage(browser)
    try {
      await login(page, 'root')
      const listed = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/admin/rules')
      await page.getByRole('link', { name: 'All rules' }).click()
      await page.getByRole('heading', { name: 'All rules' }).waitFor()
      // The first page of 200 holds every rule: no Link, no Load more.
      const first = await listed
      assert.equal(new URL(first.url()).searchParams.get('limit'), '200')
      assert.equal(first.headers()['link'], undefined)
      const disable = page.getByRole('button', { name: 'Disable alice’s rule Kernel builds' })
      await disable.click()
      await page.locator('.list-more .help').filter({ hasText: /^\d+ rules shown\.$/ }).waitFor()
      assert.equal(await page.getByRole('button', { name: 'Load more' }).count(), 0)
      await page.getByRole('button', { name: 'Enable alice’s rule Kernel builds' }).waitFor()
      shots.push(await shot(page, 'admin-rules'))
      // Stored: a new page load shows it disabled, and alice's own list too (below).
      await page.reload()
      await page.getByRole('button', { name: 'Enable alice’s rule Kernel builds' }).waitFor()

      await page.getByRole('link', { name: 'Users' }).click()
      await page.getByRole('link', { name: 'alice' }).waitFor()
      shots.push(await shot(page, 'admin-users'))

      await page.getByRole('link', { name: 'Statistics' }).click()
      await page.locator('.stat-grid').waitFor()
      const topRules = page.locator('table.stats').filter({ hasText: 'Rules that sent the most' })
      await topRules.getByRole('row', { name: /Kernel builds alice 1/ }).waitFor()
      assert.match(await page.locator('.chart figcaption').innerText(), /Notifications per day: 1 in total/)
      shots.push(await shot(page, 'admin-stats'))

      // More rules than a page: root gets 205 through the API, then pages through
      // its own with the Owner filter.
      const made = await page.evaluate(async (n) => {
        const key = Object.keys(sessionStorage).find((k) => k.startsWith('oidc.user:'))
        const headers = { Authorization: 'Bearer ' + JSON.parse(sessionStorage.getItem(key)).access_token, 'Content-Type': 'application/json' }
        for (let i = 1; i <= n; i++) {
          const body = {
            name: `Root rule ${i}`,
            tracking_rule: { name: 'related-events', params: null },
            generation_rules: [{ destinations: [{ protocol: 'email', address: 'root@example.org' }], filters: {} }],
          }
          const res = await fetch('/api/v1/users/root/rules', { method: 'POST', headers, body: JSON.stringify(body) })
          if (!res.ok) return `rule ${i}: ${res.status} ${await res.text()}`
        }
        return n
      }, 205)
      assert.equal(made, 205)
      await page.getByRole('link', { name: 'All rules' }).click()
      await page.getByRole('heading', { name: 'All rules' }).waitFor()
      const owners = page.locator('table.rules tbody td[data-label="Owner"]')
      await owners.first().waitFor()
      const rootFirst = page.waitForResponse((r) => new URL(r.url()).searchParams.get('username') === 'root')
      await page.getByLabel('Owner').fill('root')
      const link = (await rootFirst).headers()['link']
      const after = link?.match(/^<\/api\/v1\/admin\/rules\?([^>]+)>; rel="next"$/)
      assert.ok(after, `Link ${link}`)
      await owners.first().filter({ hasText: 'root' }).waitFor()
      await page.locator('.list-more .help').filter({ hasText: '200 rules shown, more to load.' }).waitFor()
      assert.deepEqual([...new Set(await owners.allInnerTexts())], ['root'])
      assert.equal(await owners.count(), 200)
      const more = page.waitForResponse((r) => new URL(r.url()).searchParams.has('after'))
      await page.getByRole('button', { name: 'Load more' }).scrollIntoViewIfNeeded()
      shots.push(await shot(page, 'admin-rules-more', { fullPage: false }))
      await page.getByRole('button', { name: 'Load more' }).click()
      const next = new URL((await more).url()).searchParams
      assert.deepEqual(Object.fromEntries(next), Object.fromEntries(new URLSearchParams(after[1])))
      await page.locator('.list-more .help').filter({ hasText: '205 rules shown.' }).waitFor()
      assert.equal(await owners.count(), 205)
      assert.deepEqual(await owners.allInnerTexts().then((o) => [...new Set(o)]), ['root'])
      assert.equal(await page.getByRole('button', { name: 'Load more' }).count(), 0)
      assert.equal(await page.locator('table.rules tbody tr').last().locator('th').innerText(), 'Root rule 205')
      assert.deepEqual(problems, [])
    } finally {
      await context.close()
    }
    // alice sees her rule disabled.
    const alice = await newPage(browser)
    try {
      await login(alice.page, 'alice')
      const sw = row(alice.page, 'Kernel builds').getByRole('switch', { name: 'Kernel builds enabled' })
      assert.equal(await sw.isChecked(), false)
      assert.deepEqual(alice.problems, [])
    } finally {
      await alice.context.close()
    }
  })

  it('root sets the default rules on their page, and bob gets them when he first logs in', async () => {
    const { context, page, problems } = await newPage(browser)
    const templates = [{
      name: 'Builds of my packages',
      tracking_rule: { name: 'artifacts-owned', params: ['{me}'] },
      generation_rules: [{ destinations: [{ protocol: 'email' }, { protocol: 'irc' }, { protocol: 'matrix' }] }],
    }]
    try {
      await login(page, 'root')
      await page.getByRole('link', { name: 'Default rules' }).click()
      await page.getByRole('heading', { name: 'Default rules' }).waitFor()
      const editor = page.getByLabel(/^Rule templates \(JSON\)/)
      // FMN_DEFAULT_RULES=off and no admin's list yet: none.
      assert.equal(JSON.parse(await editor.inputValue()).length, 0)
      // A template that names an address is refused, with where.
      const bad = structuredClone(templates)
      bad[0].generation_rules[0].destinations[0].address = 'someone@example.org'
      await editor.fill(JSON.stringify(bad, null, 2))
      await page.getByRole('button', { name: 'Save' }).click()
      const alert = page.getByRole('alert')
      await alert.getByText('0.generation_rules.0.destinations.0.address: unexpected property').waitFor()
      expected(problems, /422/)
      shots.push(await shot(page, 'admin-default-rules-error'))
      await editor.fill(JSON.stringify(templates, null, 2))
      await page.getByRole('button', { name: 'Save' }).click()
      await page.getByRole('status').filter({ hasText: 'Saved: new users get 1 default rule.' }).waitFor()
      shots.push(await shot(page, 'admin-default-rules'))
      // Stored: a new page load reads it back.
      await page.reload()
      await page.getByRole('heading', { name: 'Default rules' }).waitFor()
      assert.deepEqual(JSON.parse(await editor.inputValue()).map((t) => t.name), ['Builds of my packages'])
      assert.deepEqual(problems, [])
    } finally {
      await context.close()
    }
    // bob, new to fmn, has it: his email and IRC nick (he has no Matrix id).
    const bob = await newPage(browser)
    try {
      await login(bob.page, 'bob')
      const r = row(bob.page, 'Builds of my packages')
      await r.waitFor()
      assert.equal(await r.locator('.badge').innerText(), 'default')
      const sendsTo = await r.locator('td[data-label="Sends to"]').innerText()
      assert.match(sendsTo, /bob@example\.org/)
      assert.match(sendsTo, /bobby/)
      assert.doesNotMatch(sendsTo, /matrix/i)
      assert.equal(await bob.page.locator('table.rules tbody tr').count(), 1)
      shots.push(await shot(bob.page, 'default-rules-new-user'))
      assert.deepEqual(bob.problems, [])
    } finally {
      await bob.context.close()
    }
  })

  it('bob sets a digest on his email and pauses his IRC nick, and sees both after a reload', async () => {
    const { context, page, problems } = await newPage(browser)
    try {
      await login(page, 'bob')
      await page.getByRole('link', { name: 'Delivery', exact: true }).click()
      await page.getByRole('heading', { name: 'Delivery', exact: true }).waitFor()
      const email = page.getByRole('combobox', { name: 'Delivery to email bob@example.org' })
      const pauseIRC = page.getByRole('switch', { name: 'Pause irc bobby' })
      assert.equal(await email.inputValue(), '0')
      assert.equal(await pauseIRC.isChecked(), false)

      await email.selectOption({ label: 'Digest every hour' })
      await page.getByRole('spinbutton', { name: /bob@example\.org once this many are held/ }).fill('20')
      await pauseIRC.check()
      shots.push(await shot(page, 'delivery-edit'))
      await page.getByRole('button', { name: 'Save' }).click()
      await page.getByRole('status').filter({ hasText: 'Delivery settings saved.' }).waitFor()

      await page.reload()
      await page.getByRole('heading', { name: 'Delivery', exact: true }).waitFor()
      await email.waitFor()
      assert.equal(await email.inputValue(), '3600')
      assert.equal(await page.getByRole('spinbutton', { name: /bob@example\.org once this many are held/ }).inputValue(), '20')
      assert.equal(await pauseIRC.isChecked(), true)
      assert.equal(await page.getByRole('switch', { name: 'Pause email bob@example.org' }).isChecked(), false)
      shots.push(await shot(page, 'delivery-saved'))

      // The API says the same (with the login's token, kept in sessionStorage).
      const token = await page.evaluate(() => {
        const key = Object.keys(sessionStorage).find((k) => k.startsWith('oidc.user:'))
        return key ? JSON.parse(sessionStorage.getItem(key)).access_token : null
      })
      assert.ok(token, 'no login in sessionStorage')
      const res = await fetch(fmn.url + '/api/v1/users/bob/delivery', { headers: { Authorization: `Bearer ${token}` } })
      assert.equal(res.status, 200)
      const got = await res.json()
      assert.deepEqual(got.find((s) => s.protocol === 'email').digest, { max_age: 3600, max_count: 20 })
      assert.equal(got.find((s) => s.protocol === 'irc').paused, true)
      assert.deepEqual(problems, [])
    } finally {
      await context.close()
    }
  })
})
