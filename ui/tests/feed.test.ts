import { describe, expect, it, vi } from 'vitest'
import { createFeed, type FeedItem } from '../src/live/feed'

// A stand-in for the browser's EventSource: the test opens, fails and feeds it.
class FakeES {
  static all: FakeES[] = []
  onopen: (() => void) | null = null
  onmessage: ((e: MessageEvent) => void) | null = null
  onerror: (() => void) | null = null
  closed = false
  constructor(public url: string) {
    FakeES.all.push(this)
  }
  close() {
    this.closed = true
  }
  send(item: Partial<FeedItem>) {
    this.onmessage?.({ data: JSON.stringify(item) } as MessageEvent)
  }
}

const item = (seq: number, summary = `n${seq}`): Partial<FeedItem> => ({ seq, summary, rule_id: 7 })

function setup(history: Partial<FeedItem>[] = []) {
  FakeES.all = []
  let tickets = 0
  const calls: string[] = []
  const fetchFn = vi.fn(async (url: string | URL | Request, init?: RequestInit) => {
    const u = String(url)
    calls.push(`${init?.method} ${u} ${(init?.headers as Record<string, string>).Authorization ?? ''}`)
    if (u.endsWith('/ticket')) return new Response(JSON.stringify({ ticket: `t${++tickets}`, expires_in: 30 }))
    return new Response(JSON.stringify(history))
  })
  const feed = createFeed({
    base: '/api/v1/', user: 'alice', token: async () => 'TOKEN', fetch: fetchFn as unknown as typeof fetch,
    EventSource: FakeES as unknown as typeof EventSource, retryMs: 1,
  })
  return { feed, calls }
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 2))
  expect(cond()).toBe(true)
}

describe('live feed', () => {
  it('shows the history, then live items with an unread count', async () => {
    const { feed, calls } = setup([item(5), item(3)])
    await feed.start()
    expect(feed.state.items.map((i) => i.seq)).toEqual([5, 3])
    expect(feed.state.unread).toBe(0)
    const es = FakeES.all[0]
    // The token goes in the Authorization header, never in a URL.
    expect(es.url).toBe('/api/v1/users/alice/notifications/stream?ticket=t1&last_event_id=5')
    expect(calls.every((c) => !c.split(' ')[1].includes('TOKEN'))).toBe(true)
    expect(calls[0]).toContain('Bearer TOKEN')
    es.onopen?.()
    expect(feed.state.status).toBe('live')
    es.send(item(9, 'new'))
    expect(feed.state.items[0].summary).toBe('new')
    expect(feed.state.unread).toBe(1)
    feed.markRead()
    expect(feed.state.unread).toBe(0)
    feed.stop()
  })

  it('reconnects with a new ticket and the last id, and shows nothing twice', async () => {
    const { feed } = setup()
    await feed.start()
    const first = FakeES.all[0]
    expect(first.url).toBe('/api/v1/users/alice/notifications/stream?ticket=t1')
    first.send(item(10))
    first.onerror?.()
    expect(first.closed).toBe(true)
    expect(feed.state.status).toBe('offline')
    await until(() => FakeES.all.length === 2)
    const second = FakeES.all[1]
    expect(second.url).toBe('/api/v1/users/alice/notifications/stream?ticket=t2&last_event_id=10')
    second.send(item(10)) // already shown
    second.send(item(11))
    second.send(item(12))
    expect(feed.state.items.map((i) => i.seq)).toEqual([12, 11, 10])
    expect(feed.state.unread).toBe(3)
    feed.stop()
  })
})
