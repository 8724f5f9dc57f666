// Debounced, cancellable loading: the preview asks the API only once the form has
// been still for `delay` ms, aborts a request that a newer draft makes stale, and
// never lets an old answer overwrite a newer one.
import { onScopeDispose, reactive, watch } from 'vue'

export interface Debounced<A extends unknown[]> {
  (...args: A): void
  cancel(): void
  flush(): void
}

export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number): Debounced<A> {
  let timer: ReturnType<typeof setTimeout> | undefined
  let last: A | undefined
  const d = ((...args: A) => {
    last = args
    clearTimeout(timer)
    timer = setTimeout(() => {
      timer = undefined
      fn(...args)
    }, ms)
  }) as Debounced<A>
  d.cancel = () => {
    clearTimeout(timer)
    timer = undefined
  }
  d.flush = () => {
    if (timer !== undefined && last) {
      d.cancel()
      fn(...last)
    }
  }
  return d
}

export interface LiveState<T> {
  data: T | null
  /** A request is in flight. */
  loading: boolean
  /** The input changed and a request will follow once it settles. */
  pending: boolean
  error: string
  /** How many requests were sent (tests and the status line use it). */
  requests: number
}

/**
 * Calls `load` with the latest non-null value of `source`, debounced by `delay` ms.
 * Equal values (by JSON) do not cause a new request.
 */
export function useDebouncedLoad<S, T>(
  source: () => S | null,
  load: (value: S, signal: AbortSignal) => Promise<T>,
  delay = 500,
): LiveState<T> {
  const state = reactive({ data: null, loading: false, pending: false, error: '', requests: 0 }) as LiveState<T>
  let seq = 0
  let ctrl: AbortController | null = null

  const run = async (json: string) => {
    ctrl?.abort()
    const mine = ++seq
    const c = (ctrl = new AbortController())
    state.pending = false
    state.loading = true
    state.requests++
    try {
      const data = await load(JSON.parse(json) as S, c.signal)
      if (mine !== seq) return
      state.data = data
      state.error = ''
    } catch (err) {
      if (mine !== seq || c.signal.aborted) return
      state.error = err instanceof Error ? err.message : String(err)
    } finally {
      if (mine === seq) state.loading = false
    }
  }
  const later = debounce(run, delay)

  watch(
    () => {
      const v = source()
      return v == null ? null : JSON.stringify(v)
    },
    (json) => {
      if (json == null) {
        later.cancel()
        ctrl?.abort()
        seq++
        Object.assign(state, { data: null, loading: false, pending: false, error: '' })
        return
      }
      state.pending = true
      later(json)
    },
    { immediate: true },
  )
  onScopeDispose(() => {
    later.cancel()
    ctrl?.abort()
  })
  return state
}
