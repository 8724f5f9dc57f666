// The admin statistics count notifications per UTC hour and leave out hours without
// any; a rule's own statistics come per UTC day already; charts show days. Pure functions, no I/O.
import type { RuleStats, StatsHour } from '../api/client'

export interface Bucket {
  /** Start of the day, ISO 8601 at 00:00 UTC. */
  start: string
  count: number
}

const DAY = 86_400_000

/** 00:00 UTC of the day `days - 1` days before `now`'s: the start of a range of `days` days. */
export function rangeStart(days: number, now: Date = new Date()): Date {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())
  return new Date(today - (days - 1) * DAY)
}

/** Sums hourly totals into one bucket per UTC day, the last `days` days up to today, zeros included. */
export function dailyBuckets(hours: readonly StatsHour[] | null | undefined, days: number, now: Date = new Date()): Bucket[] {
  const start = rangeStart(days, now).getTime()
  const counts = new Array<number>(days).fill(0)
  for (const h of hours ?? []) {
    const t = Date.parse(h.hour)
    if (Number.isNaN(t)) continue
    const i = Math.floor((t - start) / DAY)
    if (i >= 0 && i < days) counts[i] += h.total
  }
  return counts.map((count, i) => ({ start: new Date(start + i * DAY).toISOString(), count }))
}

/** A rule's own statistics (already one entry per UTC day, zeros included) as buckets. */
export function ruleBuckets(stats: Pick<RuleStats, 'daily'> | null | undefined): Bucket[] {
  return (stats?.daily ?? []).map((d) => ({ start: new Date(d.day).toISOString(), count: d.total }))
}
