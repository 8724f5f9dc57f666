// Maps RFC 9457 problem+json answers (huma's ErrorModel) to messages for the form:
// each `errors[].location` such as `body.generation_rules[0].destinations[0].address`
// becomes the key `generation_rules.0.destinations.0.address` of the field it concerns.
import type { components } from './schema'

export type ErrorModel = components['schemas']['ErrorModel']

export interface FieldErrors {
  /** Messages by field key (dotted, numeric indexes: `tracking_rule.params.1`). */
  fields: Record<string, string[]>
  /** Messages that concern no single field (the detail, or a location like `path.id`). */
  general: string[]
}

export const noErrors = (): FieldErrors => ({ fields: {}, general: [] })

/** Turns a problem location into a field key; null when it is not about the body. */
export function fieldKey(location: string | undefined): string | null {
  if (!location) return null
  let loc = location.trim()
  if (loc === 'body') return null
  if (loc.startsWith('body.')) loc = loc.slice(5)
  else if (loc.startsWith('body[')) loc = loc.slice(4)
  else if (/^(path|query|header|cookie)(\.|\[|$)/.test(loc)) return null
  const key = loc
    .replace(/\[(\d+)\]/g, '.$1')
    .replace(/\[["']?([^\]"']+)["']?\]/g, '.$1')
    .replace(/^\./, '')
  return key || null
}

function isProblem(x: unknown): x is ErrorModel {
  return typeof x === 'object' && x !== null && ('title' in x || 'detail' in x || 'errors' in x || 'status' in x)
}

/** Builds field errors from whatever an API call returned as its error. */
export function problemToFieldErrors(problem: unknown, status?: number): FieldErrors {
  const out = noErrors()
  if (!isProblem(problem)) {
    out.general.push(status ? `The server answered ${status}.` : 'The server could not be reached.')
    return out
  }
  const errs = problem.errors ?? []
  // FMN's (FastAPI's) validation detail: [{loc: ['body', 'generation_rules', 0, ...], msg, type}].
  // fmn sends it alongside errors; an FMN server sends only it.
  const fmnList = Array.isArray(problem.detail) ? (problem.detail as { loc?: (string | number)[]; msg?: string }[]) : []
  if (errs.length === 0) {
    for (const d of fmnList) {
      const msg = (d.msg ?? 'is not valid').trim()
      const loc = (d.loc ?? []).map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('')
      const key = fieldKey(loc)
      if (key) (out.fields[key] ??= []).push(msg)
      else out.general.push(msg)
    }
  }
  for (const e of errs) {
    const msg = (e.message ?? 'is not valid').trim()
    const key = fieldKey(e.location)
    if (key) (out.fields[key] ??= []).push(msg)
    else out.general.push(e.location && e.location !== 'body' ? `${e.location}: ${msg}` : msg)
  }
  // The detail is a sentence, except in a validation error (FMN's list above).
  const summary = (typeof problem.detail === 'string' && problem.detail) || problem.title
  const listed = errs.length > 0 || fmnList.length > 0
  if (summary && (!listed || out.general.length === 0)) out.general.unshift(summary)
  if (!out.general.length && !Object.keys(out.fields).length) {
    out.general.push(`The server answered ${problem.status ?? status ?? 'with an error'}.`)
  }
  return out
}

/** Messages at exactly this key. */
export function errorsAt(errs: FieldErrors, key: string): string[] {
  return errs.fields[key] ?? []
}

/** Messages at this key or any key below it (`destinations` also gets `destinations.0.address`). */
export function errorsUnder(errs: FieldErrors, key: string): string[] {
  const out: string[] = []
  for (const [k, msgs] of Object.entries(errs.fields)) {
    if (k === key || k.startsWith(key + '.')) out.push(...msgs)
  }
  return out
}

/** A short human message for an error that is shown as a whole (lists, toggles). */
export function problemMessage(problem: unknown, status?: number): string {
  const fe = problemToFieldErrors(problem, status)
  const parts = [...fe.general]
  for (const [k, msgs] of Object.entries(fe.fields)) parts.push(`${k}: ${msgs.join('; ')}`)
  return parts.join(' ')
}
