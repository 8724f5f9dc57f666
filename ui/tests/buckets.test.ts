import { describe, expect, it } from 'vitest'
import { dailyBuckets, ruleBuckets, rangeStart } from '../src/stats/buckets'

describe('daily buckets', () => {
  const now = new Date('2026-11-23T15:30:00Z')

  it('starts a range at midnight UTC, days - 1 days back', () => {
    expect(rangeStart(1, now).toISOString()).toBe('2026-11-23T00:00:00.000Z')
    expect(rangeStart(7, now).toISOString()).toBe('2026-11-17T00:00:00.000Z')
  })

  it('sums hours into days, with zeros for days without any, and drops hours outside', () => {
    const b = dailyBuckets(
      [
        { hour: '2026-11-16T23:00:00Z', total: 100 }, // before the range
        { hour: '2026-11-17T00:00:00Z', total: 1 },
        { hour: '2026-11-17T23:00:00Z', total: 2 },
        { hour: '2026-11-23T15:00:00Z', total: 5 },
        { hour: 'not a time', total: 9 },
      ],
      7,
      now,
    )
    expect(b.map((x) => x.count)).toEqual([3, 0, 0, 0, 0, 0, 5])
    expect(b[0].start).toBe('2026-11-17T00:00:00.000Z')
    expect(b[6].start).toBe('2026-11-23T00:00:00.000Z')
  })

  it('takes a null list (huma sends null for an empty one)', () => {
    expect(dailyBuckets(null, 2, now)).toEqual([
      { start: '2026-11-22T00:00:00.000Z', count: 0 },
      { start: '2026-11-23T00:00:00.000Z', count: 0 },
    ])
  })
})

describe('ruleBuckets', () => {
  it('maps a rule’s daily statistics to buckets, in order', () => {
    expect(
      ruleBuckets({
        daily: [
          { day: '2026-11-22T00:00:00Z', total: 0 },
          { day: '2026-11-23T00:00:00Z', total: 5 },
        ],
      }),
    ).toEqual([
      { start: '2026-11-22T00:00:00.000Z', count: 0 },
      { start: '2026-11-23T00:00:00.000Z', count: 5 },
    ])
    expect(ruleBuckets(null)).toEqual([])
  })
})
