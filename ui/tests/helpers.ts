// A fake fmn for component tests: routes requests made through the real typed client.
import { reactive } from 'vue'
import { makeClient } from '../src/api/client'
import type { Auth } from '../src/auth'
import { defaultConfig } from '../src/config'
import type { Session } from '../src/session'

export type Handler = (req: Request, body: unknown) => Response | Promise<Response>

export const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers },
  })

export function fakeSession(routes: Record<string, Handler>, user: { id: number | null; name: string; is_admin: boolean } = { id: 3, name: 'alice', is_admin: false }) {
  const requests: { method: string; path: string; body: unknown; headers: Headers }[] = []
  const fetchFn = async (req: Request) => {
    const url = new URL(req.url)
    const path = url.pathname.replace(/^\/api\/v1/, '')
    const text = req.method === 'GET' || req.method === 'HEAD' ? '' : await req.text()
    const body = text ? JSON.parse(text) : undefined
    requests.push({ method: req.method, path: path + url.search, body, headers: req.headers })
    const h = routes[`${req.method} ${path}`] ?? routes[`${req.method} ${path}${url.search}`]
    if (!h) return json(404, { title: 'Not Found', status: 404, detail: `no route ${req.method} ${path}` })
    return h(req, body)
  }
  const unauthorized: number[] = []
  const api = makeClient({
    baseUrl: 'http://fmn.test/api/v1',
    getToken: async () => 'token-123',
    onUnauthorized: () => unauthorized.push(1),
    fetch: fetchFn as typeof fetch,
  })
  const auth = { state: reactive({ configured: true, user: null, error: '', busy: false }), loggedIn: true } as unknown as Auth
  const session: Session = {
    config: { ...defaultConfig, oidc_issuer: 'http://127.0.0.1:5556/dex', oidc_client_id: 'fmn' },
    auth,
    api,
    me: reactive({ user, error: '', loading: false }),
    loadMe: async () => undefined,
  }
  return { session, requests, unauthorized }
}

export async function flush(times = 10) {
  for (let i = 0; i < times; i++) await new Promise((r) => setTimeout(r, 0))
}
