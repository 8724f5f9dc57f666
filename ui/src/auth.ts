// Login with OpenID Connect: authorization code + PKCE (oidc-client-ts), tokens kept
// in sessionStorage, renewed before they expire (refresh token when the provider
// gives one, otherwise a silent request in an iframe at /auth/silent).
import { ErrorResponse, ErrorTimeout, UserManager, WebStorageStateStore, type User } from 'oidc-client-ts'
import { reactive } from 'vue'
import type { RuntimeConfig } from './config'

export interface AuthState {
  /** False when fmn has no FMN_OIDC_ISSUER: nobody can log in. */
  configured: boolean
  user: User | null
  /** Why the last login, renewal or logout failed, in words for the user. */
  error: string
  busy: boolean
}

export const CALLBACK_PATH = '/auth/callback'
export const SILENT_PATH = '/auth/silent'

/** Says in plain words why a login step failed, naming the provider when it refused. */
export function describeLoginError(err: unknown, issuer: string): string {
  if (err instanceof ErrorResponse) {
    const what = err.error_description ? `${err.error_description} (${err.error})` : err.error || err.message
    if (err.error === 'access_denied') return `The login provider refused the login: ${what}.`
    if (err.error === 'login_required' || err.error === 'interaction_required' || err.error === 'consent_required') {
      return 'Your session with the login provider has ended. Log in again.'
    }
    return `The login provider refused: ${what}.`
  }
  if (err instanceof ErrorTimeout) return `The login provider at ${issuer} did not answer in time.`
  const msg = err instanceof Error ? err.message : String(err)
  if (/no matching state/i.test(msg)) return 'This login was already completed or has expired. Log in again.'
  if (err instanceof TypeError || /failed to fetch|networkerror|load failed/i.test(msg)) {
    return `The login provider at ${issuer} cannot be reached.`
  }
  return `Login failed: ${msg}`
}

export function makeUserManager(cfg: RuntimeConfig, origin = window.location.origin, storage: Storage = window.sessionStorage): UserManager {
  return new UserManager({
    authority: cfg.oidc_issuer,
    client_id: cfg.oidc_client_id,
    redirect_uri: origin + CALLBACK_PATH,
    silent_redirect_uri: origin + SILENT_PATH,
    post_logout_redirect_uri: origin + '/',
    response_type: 'code',
    scope: cfg.oidc_scopes,
    userStore: new WebStorageStateStore({ store: storage }),
    automaticSilentRenew: true,
    loadUserInfo: false,
  })
}

export class Auth {
  readonly state: AuthState
  private mgr: UserManager | null

  constructor(private cfg: RuntimeConfig, mgr?: UserManager | null) {
    const configured = !!cfg.oidc_issuer && !!cfg.oidc_client_id
    this.mgr = configured ? (mgr ?? makeUserManager(cfg)) : null
    this.state = reactive({ configured, user: null, error: '', busy: false }) as AuthState
    if (!this.mgr) return
    this.mgr.events.addUserLoaded((u) => {
      this.state.user = u
      this.state.error = ''
    })
    this.mgr.events.addUserUnloaded(() => {
      this.state.user = null
    })
    this.mgr.events.addUserSignedOut(() => this.drop('You were logged out by the login provider.'))
    this.mgr.events.addSilentRenewError((err) => {
      this.state.error = 'Your session could not be renewed: ' + describeLoginError(err, cfg.oidc_issuer)
    })
    this.mgr.events.addAccessTokenExpired(() => {
      if (this.state.user && !this.state.user.refresh_token) this.state.user = null
    })
  }

  /** Restores a login kept in sessionStorage, renewing it when it has expired. */
  async init(): Promise<void> {
    if (!this.mgr) return
    const user = await this.mgr.getUser()
    if (user && !user.expired) this.state.user = user
    else if (user) await this.renew()
  }

  get loggedIn(): boolean {
    return !!this.state.user && !this.state.user.expired
  }

  /** A valid access token, renewed if it has expired; null when logged out. */
  async token(): Promise<string | null> {
    const u = this.state.user
    if (!u) return null
    if (!u.expired) return u.access_token
    return (await this.renew()) ? this.state.user!.access_token : null
  }

  async renew(): Promise<boolean> {
    if (!this.mgr) return false
    try {
      const u = await this.mgr.signinSilent()
      this.state.user = u
      return !!u
    } catch (err) {
      await this.drop(describeLoginError(err, this.cfg.oidc_issuer))
      return false
    }
  }

  async login(returnTo = '/'): Promise<void> {
    if (!this.mgr) {
      this.state.error = 'Login is not configured on this server (FMN_OIDC_ISSUER and FMN_OIDC_CLIENT_ID are empty).'
      return
    }
    this.state.busy = true
    this.state.error = ''
    try {
      await this.mgr.signinRedirect({ state: { returnTo } })
    } catch (err) {
      this.state.error = describeLoginError(err, this.cfg.oidc_issuer)
      this.state.busy = false
    }
  }

  /** Completes the redirect back from the provider; returns where to go next. */
  async completeLogin(url = window.location.href): Promise<string> {
    if (!this.mgr) throw new Error('Login is not configured on this server.')
    try {
      const user = await this.mgr.signinRedirectCallback(url)
      this.state.user = user
      this.state.error = ''
      const rt = (user.state as { returnTo?: string } | undefined)?.returnTo
      return rt && rt.startsWith('/') && !rt.startsWith('//') ? rt : '/'
    } catch (err) {
      this.state.error = describeLoginError(err, this.cfg.oidc_issuer)
      throw err
    }
  }

  async completeSilent(url = window.location.href): Promise<void> {
    await this.mgr?.signinSilentCallback(url)
  }

  /** Forgets the tokens and, when the provider supports it, ends its session too. */
  async logout(): Promise<void> {
    if (!this.mgr) return
    const user = this.state.user
    let endSession = false
    try {
      endSession = !!(await this.mgr.metadataService.getEndSessionEndpoint())
    } catch {
      endSession = false
    }
    await this.mgr.removeUser()
    this.state.user = null
    if (endSession) {
      try {
        await this.mgr.signoutRedirect({ id_token_hint: user?.id_token })
        return
      } catch (err) {
        this.state.error = 'Logged out here, but the login provider could not be told: ' + describeLoginError(err, this.cfg.oidc_issuer)
      }
    }
  }

  /** Called when the API says 401: the token is no longer accepted. */
  async drop(message: string): Promise<void> {
    this.state.user = null
    this.state.error = message
    await this.mgr?.removeUser().catch(() => undefined)
  }
}
