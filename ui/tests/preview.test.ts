import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope, nextTick, ref } from 'vue'
import { debounce, useDebouncedLoad } from '../src/composables/preview'

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

describe('debounce', () => {
  it('calls once with the last arguments after the pause', () => {
    const fn = vi.fn()
    const d = debounce(fn, 100)
    d(1)
    vi.advanceTimersByTime(60)
    d(2)
    vi.advanceTimersByTime(60)
    d(3)
    expect(fn).not.toHaveBeenCalled()
    vi.advanceTimersByTime(100)
    expect(fn).toHaveBeenCalledTimes(1)
    expect(fn).toHaveBeenCalledWith(3)
  })
  it('can be cancelled and flushed', () => {
    const fn = vi.fn()
    const d = debounce(fn, 100)
    d(1)
    d.cancel()
    vi.advanceTimersByTime(200)
    expect(fn).not.toHaveBeenCalled()
    d(2)
    d.flush()
    expect(fn).toHaveBeenCalledWith(2)
  })
})

/** A loader whose answers the test releases by hand. */
function controlledLoader() {
  const calls: { value: unknown; signal: AbortSignal; resolve: (v: string) => void; reject: (e: Error) => void }[] = []
  const load = (value: unknown, signal: AbortSignal) =>
    new Promise<string>((resolve, reject) => calls.push({ value, signal, resolve, reject }))
  return { calls, load }
}

async function settle() {
  for (let i = 0; i < 5; i++) {
    await Promise.resolve()
    await nextTick()
  }
}

describe('useDebouncedLoad', () => {
  it('sends one request for a burst of edits, with the latest draft', async () => {
    const src = ref<{ name: string } | null>({ name: 'a' })
    const { calls, load } = controlledLoader()
    const scope = effectScope()
    const state = scope.run(() => useDebouncedLoad(() => src.value, load, 500))!
    expect(state.pending).toBe(true)
    for (const n of ['ab', 'abc', 'abcd']) {
      vi.advanceTimersByTime(200)
      src.value = { name: n }
      await nextTick()
    }
    expect(calls).toHaveLength(0)
    vi.advanceTimersByTime(500)
    expect(calls).toHaveLength(1)
    expect(calls[0].value).toEqual({ name: 'abcd' })
    expect(state.loading).toBe(true)
    calls[0].resolve('result')
    await settle()
    expect(state).toMatchObject({ data: 'result', loading: false, pending: false, error: '', requests: 1 })
    scope.stop()
  })

  it('does not ask again for an equal draft', async () => {
    const src = ref({ name: 'a', list: [1] })
    const { calls, load } = controlledLoader()
    const scope = effectScope()
    scope.run(() => useDebouncedLoad(() => src.value, load, 100))
    vi.advanceTimersByTime(100)
    calls[0].resolve('x')
    await settle()
    src.value = { name: 'a', list: [1] }
    await nextTick()
    vi.advanceTimersByTime(500)
    expect(calls).toHaveLength(1)
    scope.stop()
  })

  it('aborts a stale request and never shows its answer', async () => {
    const src = ref({ n: 1 })
    const { calls, load } = controlledLoader()
    const scope = effectScope()
    const state = scope.run(() => useDebouncedLoad(() => src.value, load, 100))!
    vi.advanceTimersByTime(100)
    src.value = { n: 2 }
    await nextTick()
    vi.advanceTimersByTime(100)
    expect(calls).toHaveLength(2)
    expect(calls[0].signal.aborted).toBe(true)
    calls[1].resolve('new')
    await settle()
    calls[0].resolve('old')
    await settle()
    expect(state.data).toBe('new')
    scope.stop()
  })

  it('shows the error of the latest request, and clears when the draft becomes incomplete', async () => {
    const src = ref<{ n: number } | null>({ n: 1 })
    const { calls, load } = controlledLoader()
    const scope = effectScope()
    const state = scope.run(() => useDebouncedLoad(() => src.value, load, 100))!
    vi.advanceTimersByTime(100)
    calls[0].reject(new Error('422: topic is not a valid glob'))
    await settle()
    expect(state.error).toBe('422: topic is not a valid glob')
    src.value = null
    await nextTick()
    vi.advanceTimersByTime(1000)
    expect(calls).toHaveLength(1)
    expect(state).toMatchObject({ data: null, error: '', pending: false, loading: false })
    scope.stop()
  })

  it('stops its timer when the component goes away', async () => {
    const src = ref({ n: 1 })
    const { calls, load } = controlledLoader()
    const scope = effectScope()
    scope.run(() => useDebouncedLoad(() => src.value, load, 100))
    scope.stop()
    vi.advanceTimersByTime(1000)
    expect(calls).toHaveLength(0)
  })
})
