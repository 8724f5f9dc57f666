// End-to-end test of the live feed (channel sse) in Debian's Chromium against a real
// `fmn dev` (see fmn.test.mjs): alice creates a rule with the sse destination, a
// matching bus message appears in the notifications panel without a reload; with the
// network cut, two more are published; back online, the feed reconnects with a new
// ticket and the last event id, and both arrive (unread: 2), none twice.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { artifactsDir, launch, newPage, shot } from './browser.mjs'
import { busMessage, startSystem } from './system.mjs'

const PASSWORD = 'verysecure'
let browser
let fmn

before(async () => {
  ;[fmn, browser] = await Promise.all([startSystem({ artifacts: artifactsDir }), launch()])
})
after(async () => {
  await browser?.close()
  await fmn?.stop()
})

const about = (summary) => busMessage({ topic: 'org.fedoraproject.prod.fas.group.member.sponsor', agent: 'carol', users: ['carol', 'alice'], summary })

describe('live feed against a real fmn', () => {
  it('alice sees notifications live, and the ones sent while offline after reconnecting, once', async () => {
    const { context, page, problems } = await newPage(browser)
    const urls = []
    page.on('request', (r) => urls.push(r.url()))
    try {
      await page.goto(fmn.url + '/')
      await page.getByRole('button', { name: 'Log in' }).click()
      await page.waitForURL((u) => u.href.startsWith(fmn.issuer + '/login/username'))
      await page.getByLabel('Username').fill('alice')
      await page.getByLabel('Password').fill(PASSWORD)
      await page.getByRole('button', { name: 'Log in' }).click()
      await page.getByRole('heading', { name: 'Your rules' }).waitFor()

      await page.getByRole('link', { name: 'New rule', exact: true }).first().click()
      await page.getByRole('heading', { name: 'New rule' }).waitFor()
      await page.getByRole('textbox', { name: 'Name', exact: true }).fill('In the browser')
      await page.getByText('Events about me').click()
      await page.getByRole('checkbox', { name: 'sse alice' }).check()
      await page.getByRole('button', { name: 'Create rule' }).click()
      await page.getByRole('heading', { name: 'Your rules' }).waitFor()

      const panel = page.getByRole('button', { name: /^Notifications/ })
      await panel.click()
      await page.locator('#notifications-panel').getByRole('status').filter({ hasText: 'Live' }).waitFor()
      await fmn.publish([about('first live one')])
      const items = page.getByTestId('notification')
      await items.filter({ hasText: 'first live one' }).waitFor({ timeout: 15_000 })
      await shot(page, 'live-feed')

      await context.setOffline(true)
      await page.locator('#notifications-panel').getByRole('status').filter({ hasText: 'Offline' }).waitFor({ timeout: 15_000 })
      await panel.click() // closed: what arrives now is unread
      await fmn.publish([about('missed one'), about('missed two')])
      await context.setOffline(false)
      await page.getByTestId('unread').filter({ hasText: /^2$/ }).waitFor({ timeout: 20_000 })
      await panel.click()
      await items.filter({ hasText: 'missed two' }).waitFor()
      await items.filter({ hasText: 'missed one' }).waitFor()
      const texts = await items.allInnerTexts()
      assert.equal(texts.length, 3, texts.join('\n'))
      await shot(page, 'live-feed-reconnected')

      // The token never travels in a URL; tickets do, once each.
      const token = await page.evaluate(() => {
        for (let i = 0; i < sessionStorage.length; i++) {
          const v = sessionStorage.getItem(sessionStorage.key(i))
          if (v && v.includes('access_token')) return JSON.parse(v).access_token
        }
        return ''
      })
      assert.ok(token, 'access token in sessionStorage')
      assert.ok(!urls.some((u) => u.includes(token)), 'token in a URL')
      const tickets = urls.filter((u) => u.includes('/notifications/stream?ticket=')).map((u) => new URL(u).searchParams.get('ticket'))
      assert.ok(tickets.length >= 2)
      assert.equal(new Set(tickets).size, tickets.length, 'a ticket used twice')
      // Cutting the network fails the stream on purpose.
      for (let i = problems.length - 1; i >= 0; i--) if (/notifications\/stream|ERR_INTERNET_DISCONNECTED|ticket/.test(problems[i])) problems.splice(i, 1)
      assert.deepEqual(problems, [])
    } finally {
      await context.close()
    }
  })
})
