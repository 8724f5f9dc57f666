// The typed API client: openapi-fetch over the generated `paths`, with the login's
// Bearer token on every request and a hook for 401 answers.
import createClient, { type Client, type Middleware } from 'openapi-fetch'
import type { paths, components } from './schema'

export type Api = Client<paths>
export type Schemas = components['schemas']
export type Rule = Schemas['Rule']
export type NewRule = Schemas['NewRule']
export type Destination = Schemas['Destination']
export type Artifact = Schemas['Artifact']
export type PreviewNotification = Schemas['PreviewNotification']
export type PreviewResult = Schemas['PreviewResult']
export type StatsHour = Schemas['StatsHour']
export type RuleStats = Schemas['RuleStats']
export type StatsSummary = Schemas['StatsSummary']
export type User = Schemas['User']
export type AdminUser = Schemas['AdminUser']
export type DeliverySetting = Schemas['DeliverySetting']
export type RuleTemplate = Schemas['RuleTemplate']

export interface ClientOptions {
  baseUrl: string
  getToken: () => Promise<string | null>
  onUnauthorized?: () => void
  fetch?: typeof fetch
}

export function makeClient(opts: ClientOptions): Api {
  const client = createClient<paths>({
    baseUrl: opts.baseUrl.replace(/\/$/, ''),
    fetch: opts.fetch ? (req: Request) => opts.fetch!(req) : undefined,
    querySerializer: { array: { style: 'form', explode: false } },
  })
  const auth: Middleware = {
    async onRequest({ request }) {
      const token = await opts.getToken()
      if (token) request.headers.set('Authorization', `Bearer ${token}`)
      return request
    },
    async onResponse({ response }) {
      if (response.status === 401) opts.onUnauthorized?.()
      return response
    },
  }
  client.use(auth)
  return client
}
