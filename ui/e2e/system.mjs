// Starts a real fmn for the end-to-end test: builds bin/fmn (with the UI built into
// it) and the peers helper (e2e/peers: a fresh PostgreSQL schema and Redis prefix,
// FASJSON and dist-git stand-ins), then runs `fmn dev` on free ports with a temporary data dir,
// its embedded NATS, a Redis key prefix of its own and its development OIDC provider,
// as a developer would. Everything is on loopback and is torn down by stop().
import { spawn, execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { createWriteStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomUUID } from 'node:crypto'
import { promisify } from 'node:util'
import { createInterface } from 'node:readline'

const run = promisify(execFile)
export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)))

/** Reads lines of a child's stdout until `done(lines)` says enough, or fails after ms. */
function readUntil(child, what, done, ms, logFile) {
  return new Promise((ok, fail) => {
    const lines = []
    const rl = createInterface({ input: child.stdout })
    const timer = setTimeout(() => finish(new Error(`${what}: not ready within ${ms / 1000}s; output so far:\n${lines.join('\n')}\n(log: ${logFile})`)), ms)
    const onExit = (code) => finish(new Error(`${what} exited (${code}) before it was ready:\n${lines.join('\n')}\n(log: ${logFile})`))
    child.on('exit', onExit)
    function finish(err, value) {
      clearTimeout(timer)
      child.off('exit', onExit)
      rl.off('line', onLine)
      err ? fail(err) : ok(value)
    }
    function onLine(line) {
      lines.push(line)
      const v = done(lines)
      if (v) finish(null, v)
    }
    rl.on('line', onLine)
  })
}

async function waitReady(url, ms) {
  const deadline = Date.now() + ms
  let last = ''
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url + '/healthz/ready')
      if (res.ok) return
      last = `${res.status} ${await res.text()}`
    } catch (err) {
      last = String(err)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`fmn not ready within ${ms / 1000}s: ${last}`)
}

/**
 * A bus message in fedora-messaging's serialized form, sent now, with the users and
 * packages it concerns in headers, as `fmn publish` reads it.
 */
export function busMessage({ topic, agent, summary, users = [], rpms = [], containers = [], url }) {
  const headers = {
    fedora_messaging_schema: 'base.message',
    fedora_messaging_severity: 20,
    'sent-at': new Date().toISOString(),
    priority: 0,
  }
  for (const u of users) headers[`fedora_messaging_user_${u}`] = true
  for (const p of rpms) headers[`fedora_messaging_rpm_${p}`] = true
  for (const c of containers) headers[`fedora_messaging_container_${c}`] = true
  return { id: randomUUID(), topic, headers, body: { agent_name: agent, summary, url: url ?? `https://example.org/${encodeURIComponent(summary)}` }, priority: 0 }
}

export async function startSystem({ artifacts }) {
  const started = Date.now()
  const tmp = await mkdtemp(join(tmpdir(), 'fmn-e2e-'))
  const bin = join(tmp, 'bin')
  await mkdir(artifacts, { recursive: true })
  const children = []
  const stop = async () => {
    for (const c of children.reverse()) {
      if (c.exitCode === null && c.signalCode === null) {
        const gone = new Promise((r) => c.once('exit', r))
        c.kill('SIGTERM')
        const t = setTimeout(() => c.kill('SIGKILL'), 10_000)
        await gone
        clearTimeout(t)
      }
    }
    await rm(tmp, { recursive: true, force: true })
  }
  try {
    // One go build for both: the cache makes it a few seconds once warm.
    const t0 = Date.now()
    await run(process.env.GO ?? 'go', ['build', '-o', bin + '/', './cmd/fmn', './ui/e2e/peers'], { cwd: repoRoot, maxBuffer: 16 << 20 })
    const buildMs = Date.now() - t0

    const peersLog = join(artifacts, 'peers.log')
    const peersErr = createWriteStream(peersLog)
    await new Promise((r) => peersErr.once('open', r))
    const peers = spawn(join(bin, 'peers'), [], { stdio: ['pipe', 'pipe', peersErr] })
    children.push(peers)
    const p = await readUntil(peers, 'peers', (lines) => JSON.parse(lines[0]), 30_000, peersLog)

    const fmnLog = join(artifacts, 'fmn.log')
    const logStream = createWriteStream(fmnLog)
    await new Promise((r) => logStream.once('open', r))
    const env = {
      ...process.env,
      FMN_DATA_DIR: join(tmp, 'data'),
      FMN_HTTP_ADDR: '127.0.0.1:0',
      FMN_NATS_PORT: '0',
      FMN_DATABASE_URL: p.database_url,
      FMN_REDIS_URL: p.redis_url,
      FMN_REDIS_PREFIX: p.redis_prefix,
      FMN_FASJSON_URL: p.fasjson_url,
      FMN_DISTGIT_URL: p.distgit_url,
      FMN_OIDC_ISSUER: '',
      FMN_OIDC_CLIENT_ID: '',
      FMN_OIDC_SCOPES: '',
      FMN_SMTP_URL: '',
      FMN_NATS_URL: '',
      FMN_LOG_LEVEL: 'info',
      // Users start without rules (the tests create theirs); the admin's default
      // rules still apply once set (the default-rules test).
      FMN_DEFAULT_RULES: 'off',
    }
    const fmn = spawn(join(bin, 'fmn'), ['dev'], { env, stdio: ['ignore', 'pipe', logStream] })
    children.push(fmn)
    const banner = await readUntil(
      fmn,
      'fmn dev',
      (lines) => {
        const text = lines.join('\n')
        const http = text.match(/HTTP:\s+(http:\/\/\S+)/)?.[1]
        const issuer = text.match(/Login \(dev OIDC\):\s+(http:\/\/\S+)/)?.[1]
        const nats = text.match(/NATS \(embedded\):\s+(nats:\/\/\S+)/)?.[1]
        const mail = text.match(/Mail \(dev sink\):\s+(\S+)/)?.[1]
        return http && issuer && nats && mail && /PostgreSQL:/.test(text) ? { http, issuer, nats, mail, text } : null
      },
      60_000,
      fmnLog,
    )
    await writeFile(join(artifacts, 'fmn-banner.txt'), banner.text + '\n')
    await waitReady(banner.http, 30_000)

    let batch = 0
    return {
      url: banner.http,
      issuer: banner.issuer,
      nats: banner.nats,
      mailDir: banner.mail,
      banner: banner.text,
      schema: p.schema,
      buildMs,
      startMs: Date.now() - started,
      /** Publishes bus messages with `fmn publish`, as an operator would. */
      async publish(messages) {
        const file = join(tmp, `messages-${++batch}.jsonl`)
        await writeFile(file, messages.map((m) => JSON.stringify(m)).join('\n') + '\n')
        const { stdout } = await run(join(bin, 'fmn'), ['publish', file], { env: { ...process.env, FMN_NATS_URL: banner.nats } })
        if (!new RegExp(`^published ${messages.length},`).test(stdout)) throw new Error(`fmn publish: ${stdout}`)
        return stdout.trim()
      },
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}
