import { describe, expect, it } from 'vitest'
import { ErrorResponse } from 'oidc-client-ts'
import { describeLoginError } from '../src/auth'
import { loadConfig } from '../src/config'
import { fakeSession, json } from './helpers'

describe('API client', () => {
  it('sends the Bearer token and reports 401', async () => {
    const { session, requests, unauthorized } = fakeSession({
      'GET /users/me': () => json(401, { title: 'Unauthorized', status: 401 }),
      'GET /applications': () => json(200, ['bodhi', 'koji']),
    })
    const me = await session.api.GET('/users/me')
    expect(me.response.status).toBe(401)
    expect(unauthorized).toHaveLength(1)
    const apps = await session.api.GET('/applications')
    expect(apps.data).toEqual(['bodhi', 'koji'])
    expect(requests.map((r) => r.headers.get('Authorization'))).toEqual(['Bearer token-123', 'Bearer token-123'])
  })

  it('builds artifact queries', async () => {
    const { session, requests } = fakeSession({ 'GET /artifacts': () => json(200, [{ name: 'kernel', type: 'rpms' }]) })
    const { data } = await session.api.GET('/artifacts', { params: { query: { names: ['kern*'] } } })
    expect(data).toEqual([{ name: 'kernel', type: 'rpms' }])
    expect(requests[0].path).toBe('/artifacts?names=kern*')
  })
})

describe('login errors', () => {
  const issuer = 'https://id.example.org'
  it('says clearly when the provider refuses', () => {
    expect(describeLoginError(new ErrorResponse({ error: 'access_denied', error_description: 'user cancelled' }), issuer))
      .toBe('The login provider refused the login: user cancelled (access_denied).')
    expect(describeLoginError(new ErrorResponse({ error: 'unauthorized_client' }), issuer))
      .toBe('The login provider refused: unauthorized_client.')
    expect(describeLoginError(new ErrorResponse({ error: 'login_required' }), issuer)).toMatch(/Log in again/)
  })
  it('tells an unreachable provider from a replayed callback', () => {
    expect(describeLoginError(new TypeError('Failed to fetch'), issuer)).toBe('The login provider at https://id.example.org cannot be reached.')
    expect(describeLoginError(new Error('No matching state found in storage'), issuer)).toMatch(/already completed or has expired/)
  })
})

describe('runtime config', () => {
  it('fills defaults around what fmn serves', async () => {
    const f = async () => json(200, { oidc_issuer: 'http://127.0.0.1:5556/dex', oidc_client_id: 'fmn', site_name: '' })
    const cfg = await loadConfig(f as unknown as typeof fetch)
    expect(cfg).toMatchObject({ oidc_issuer: 'http://127.0.0.1:5556/dex', oidc_client_id: 'fmn', site_name: 'fmn', api_base: '/api/v1' })
    await expect(loadConfig((async () => json(500, {})) as unknown as typeof fetch)).rejects.toThrow('500')
  })
})
