import { createApp } from 'vue'
import App from './App.vue'
import { Auth, SILENT_PATH, makeUserManager } from './auth'
import { makeClient } from './api/client'
import { defaultConfig, loadConfig } from './config'
import { makeRouter } from './router'
import { SessionKey, makeSession } from './session'
import './style.css'

async function start() {
  const root = document.getElementById('app')!
  let config = defaultConfig
  try {
    config = await loadConfig()
  } catch (err) {
    root.innerHTML = ''
    const p = document.createElement('p')
    p.setAttribute('role', 'alert')
    p.className = 'notice error'
    p.textContent = `fmn's configuration could not be loaded (${err instanceof Error ? err.message : err}). Reload the page to try again.`
    root.append(p)
    return
  }
  // The iframe of a silent token renewal only hands the answer to the opener.
  if (window.location.pathname === SILENT_PATH) {
    await makeUserManager(config).signinSilentCallback()
    return
  }
  const auth = new Auth(config)
  const api = makeClient({
    baseUrl: config.api_base,
    getToken: () => auth.token(),
    onUnauthorized: () => void auth.drop('Your session has expired or was not accepted. Log in again.'),
  })
  const session = makeSession(config, auth, api)
  await auth.init().catch(() => undefined)
  if (auth.loggedIn) await session.loadMe()
  const app = createApp(App)
  app.provide(SessionKey, session)
  app.use(makeRouter(session))
  app.mount(root)
}

void start()
