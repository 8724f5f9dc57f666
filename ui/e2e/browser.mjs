// Debian's Chromium driven by playwright-core (no browser download), with the flags
// this machine needs (.library/env/machines/go-svc.md): no sandbox as root, and no
// background networking, which the closed network refuses.
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

export const artifactsDir = resolve(process.env.FMN_TEST_ARTIFACTS ?? fileURLToPath(new URL('../../test-artifacts/ui/', import.meta.url)))

export async function launch() {
  mkdirSync(artifactsDir, { recursive: true })
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}

/** A page that records console errors, uncaught exceptions and failed requests. */
export async function newPage(browser, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, colorScheme: 'light', reducedMotion: 'reduce' })
  const page = await context.newPage()
  const problems = []
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()} (${m.location()?.url ?? page.url()})`)
  })
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
  page.on('requestfailed', (r) => {
    // Cancelled on purpose: a preview a newer draft made stale, and the live feed's
    // stream when the page goes away.
    if (r.failure()?.errorText === 'net::ERR_ABORTED' && /\/api\/v1\/(rule-preview|users\/[^/]+\/notifications\/stream)/.test(r.url())) return
    problems.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`)
  })
  return { context, page, problems }
}

/** Saves a screenshot of the whole page, or with fullPage false of the viewport. */
export async function shot(page, name, { fullPage = true } = {}) {
  const path = resolve(artifactsDir, `${name}.png`)
  await page.screenshot({ path, fullPage })
  return path
}
