// What every view needs: runtime config, login, the API client and the current
// user's record (/users/me), provided once by main.ts and injected by views.
import { inject, reactive, type InjectionKey } from 'vue'
import type { RuntimeConfig } from './config'
import type { Auth } from './auth'
import type { Api, User } from './api/client'
import { problemMessage } from './api/problem'

export interface Session {
  config: RuntimeConfig
  auth: Auth
  api: Api
  me: { user: User | null; error: string; loading: boolean }
  loadMe(): Promise<void>
}

export const SessionKey: InjectionKey<Session> = Symbol('session')

export function makeSession(config: RuntimeConfig, auth: Auth, api: Api): Session {
  const me = reactive({ user: null as User | null, error: '', loading: false })
  return {
    config,
    auth,
    api,
    me,
    async loadMe() {
      if (!auth.loggedIn) {
        me.user = null
        return
      }
      me.loading = true
      try {
        const { data, error, response } = await api.GET('/users/me')
        if (data) {
          me.user = data
          me.error = ''
        } else if (response.status !== 401) {
          me.error = 'Could not load your account: ' + problemMessage(error, response.status)
        }
      } catch (err) {
        me.error = 'Could not reach fmn: ' + (err instanceof Error ? err.message : String(err))
      } finally {
        me.loading = false
      }
    },
  }
}

export function useSession(): Session {
  const s = inject(SessionKey)
  if (!s) throw new Error('useSession() outside the app')
  return s
}
