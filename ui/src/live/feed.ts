// The live feed of the user's notifications (channel sse): the history on start, then
// server-sent events. EventSource cannot send the Authorization header, so each
// connection uses a single-use ticket bought with the token; when a connection drops,
// the feed closes it (EventSource would retry with the used ticket and get a 401) and
// opens a new one with a new ticket and the last event id, so fmn sends what was missed.
import { reactive } from 'vue'

export interface FeedItem {
  seq: number
  id: string
  topic: string
  app?: string
  summary: string
  line?: string
  url?: string
  rule_id: number
  sent_at: string
  created_at: string
}

export interface FeedDeps {
  /** The API base, e.g. /api/v1. */
  base: string
  user: string
  token: () => Promise<string | null>
  fetch?: typeof fetch
  EventSource?: typeof EventSource
  /** Delay before reconnecting (default 2000 ms). */
  retryMs?: number
  /** Items kept (default 200). */
  keep?: number
}

export type FeedStatus = 'idle' | 'connecting' | 'live' | 'offline'

export interface Feed {
  state: { items: FeedItem[]; unread: number; status: FeedStatus; error: string }
  start(): Promise<void>
  stop(): void
  markRead(): void
}

export function createFeed(deps: FeedDeps): Feed {
  const doFetch = deps.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a))
  const ES = deps.EventSource ?? globalThis.EventSource
  const retry = deps.retryMs ?? 2000
  const keep = deps.keep ?? 200
  const base = deps.base.replace(/\/$/, '') + '/users/' + encodeURIComponent(deps.user) + '/notifications'
  const state = reactive({ items: [] as FeedItem[], unread: 0, status: 'idle' as FeedStatus, error: '' })
  let last = 0
  let es: EventSource | null = null
  let timer: ReturnType<typeof setTimeout> | null = null
  let stopped = true

  async function call(method: string, url: string): Promise<Response> {
    const token = await deps.token()
    const headers: Record<string, string> = { Accept: 'application/json' }
    if (token) headers.Authorization = `Bearer ${token}`
    return doFetch(url, { method, headers })
  }

  function add(item: FeedItem, unread: boolean) {
    if (item.seq <= last) return // sent again after a reconnect: shown once
    last = item.seq
    state.items.unshift(item)
    if (state.items.length > keep) state.items.length = keep
    if (unread) state.unread++
  }

  function later() {
    if (stopped || timer) return
    state.status = 'offline'
    if (typeof navigator !== 'undefined' && navigator.onLine === false) return // 'online' reconnects
    timer = setTimeout(() => {
      timer = null
      void connect()
    }, retry)
  }

  async function connect() {
    if (stopped) return
    state.status = 'connecting'
    let ticket: string
    try {
      const res = await call('POST', base + '/ticket')
      if (!res.ok) throw new Error(`ticket: ${res.status}`)
      ticket = ((await res.json()) as { ticket: string }).ticket
    } catch (err) {
      state.error = 'The live feed is offline: ' + (err instanceof Error ? err.message : String(err))
      later()
      return
    }
    if (stopped) return
    let url = base + '/stream?ticket=' + encodeURIComponent(ticket)
    if (last > 0) url += '&last_event_id=' + last
    const src = new ES(url)
    es = src
    src.onopen = () => {
      state.status = 'live'
      state.error = ''
    }
    src.onmessage = (e: MessageEvent) => {
      try {
        add(JSON.parse(e.data as string) as FeedItem, true)
      } catch {
        // not a notification: ignored
      }
    }
    src.onerror = () => {
      src.close()
      if (es === src) es = null
      later()
    }
  }

  // The browser says when the network goes: the stream is dropped then (it may hang
  // on for minutes otherwise) and opened again, with what was missed, when it is back.
  const onOffline = () => {
    es?.close()
    es = null
    if (timer) clearTimeout(timer)
    timer = null
    if (!stopped) state.status = 'offline'
  }
  const onOnline = () => {
    if (!stopped && !es && !timer) void connect()
  }
  const win = typeof window !== 'undefined' ? window : null

  return {
    state,
    async start() {
      if (!stopped) return
      stopped = false
      win?.addEventListener('offline', onOffline)
      win?.addEventListener('online', onOnline)
      try {
        const res = await call('GET', base + '?limit=50')
        if (res.ok) {
          const list = (await res.json()) as FeedItem[] | null
          for (const it of [...(list ?? [])].reverse()) add(it, false)
        }
      } catch {
        // The stream still works; the history comes with the next start.
      }
      await connect()
    },
    stop() {
      stopped = true
      win?.removeEventListener('offline', onOffline)
      win?.removeEventListener('online', onOnline)
      if (timer) clearTimeout(timer)
      timer = null
      es?.close()
      es = null
      state.status = 'idle'
    },
    markRead() {
      state.unread = 0
    },
  }
}
