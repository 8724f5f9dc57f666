// Runtime configuration, served by fmn at /config.json (ui/ui.go), so one build
// serves every deployment.
export interface RuntimeConfig {
  oidc_issuer: string
  oidc_client_id: string
  oidc_scopes: string
  public_url: string
  site_name: string
  api_base: string
}

export const defaultConfig: RuntimeConfig = {
  oidc_issuer: '',
  oidc_client_id: '',
  oidc_scopes: 'openid profile email',
  public_url: '',
  site_name: 'fmn',
  api_base: '/api/v1',
}

export async function loadConfig(fetchFn: typeof fetch = fetch): Promise<RuntimeConfig> {
  const res = await fetchFn('/config.json', { headers: { Accept: 'application/json' }, cache: 'no-cache' })
  if (!res.ok) throw new Error(`/config.json answered ${res.status}`)
  const body = (await res.json()) as Partial<RuntimeConfig>
  const cfg = { ...defaultConfig }
  for (const k of Object.keys(defaultConfig) as (keyof RuntimeConfig)[]) {
    const v = body[k]
    if (typeof v === 'string' && v !== '') cfg[k] = v
  }
  return cfg
}
