import { describe, expect, it } from 'vitest'
import { errorsAt, errorsUnder, fieldKey, problemMessage, problemToFieldErrors } from '../src/api/problem'

describe('fieldKey', () => {
  it.each([
    ['body.generation_rules[0].destinations[0].address', 'generation_rules.0.destinations.0.address'],
    ['body.name', 'name'],
    ['body.tracking_rule.params[2]', 'tracking_rule.params.2'],
    ['body[0]', '0'],
    ['body.generation_rules[1].filters.topic', 'generation_rules.1.filters.topic'],
    ['body', null],
    ['path.id', null],
    ['query.names', null],
    ['header.If-Match', null],
    ['', null],
    [undefined, null],
  ])('%s → %s', (loc, want) => {
    expect(fieldKey(loc)).toBe(want)
  })
})

describe('problemToFieldErrors', () => {
  it('puts each error next to its field and keeps the title when all are placed', () => {
    const fe = problemToFieldErrors({
      title: 'Unprocessable Entity',
      status: 422,
      detail: 'validation failed',
      errors: [
        { location: 'body.generation_rules[0].destinations[0].address', message: 'not a Matrix address: use @username:server.tld', value: 'bob' },
        { location: 'body.name', message: 'expected length >= 1' },
        { location: 'body.name', message: 'must not be blank' },
      ],
    })
    expect(fe.fields).toEqual({
      'generation_rules.0.destinations.0.address': ['not a Matrix address: use @username:server.tld'],
      name: ['expected length >= 1', 'must not be blank'],
    })
    expect(fe.general).toEqual(['validation failed'])
  })

  it('keeps errors without a body location as general messages', () => {
    const fe = problemToFieldErrors({ title: 'Forbidden', status: 403, detail: 'you may only edit your own rules' })
    expect(fe.fields).toEqual({})
    expect(fe.general).toEqual(['you may only edit your own rules'])
    const fe2 = problemToFieldErrors({ status: 400, errors: [{ location: 'path.id', message: 'expected integer' }, { location: 'body', message: 'unexpected EOF' }] })
    expect(fe2.general).toEqual(['path.id: expected integer', 'unexpected EOF'])
  })

  it('reads FMN\'s detail list: alone (an FMN server) and beside errors (fmn)', () => {
    const fmn = problemToFieldErrors({
      title: 'Unprocessable Entity',
      status: 422,
      detail: [
        { loc: ['body', 'generation_rules', 0, 'destinations', 0, 'address'], msg: 'Value error, The Matrix address \'x\' should be in the form @username:server.tld', type: 'value_error' },
        { loc: ['body', 'tracking_rule'], msg: 'Field required', type: 'missing' },
        { loc: ['query', 'limit'], msg: 'Input should be a valid integer', type: 'int_parsing' },
      ],
    })
    expect(fmn.fields).toEqual({
      'generation_rules.0.destinations.0.address': ['Value error, The Matrix address \'x\' should be in the form @username:server.tld'],
      tracking_rule: ['Field required'],
    })
    expect(fmn.general).toEqual(['Input should be a valid integer'])
    const both = problemToFieldErrors({
      title: 'Unprocessable Entity',
      status: 422,
      detail: [{ loc: ['body', 'name'], msg: 'too long', type: 'value_error' }],
      errors: [{ location: 'body.name', message: 'too long' }],
    })
    expect(both.fields).toEqual({ name: ['too long'] })
    expect(both.general).toEqual(['Unprocessable Entity'])
  })

  it('says something useful for a non-problem answer', () => {
    expect(problemToFieldErrors(undefined, 502).general).toEqual(['The server answered 502.'])
    expect(problemToFieldErrors('oops').general).toEqual(['The server could not be reached.'])
    expect(problemToFieldErrors({ status: 500 }).general).toEqual(['The server answered 500.'])
  })

  it('finds errors at and under a key', () => {
    const fe = problemToFieldErrors({ errors: [
      { location: 'body.generation_rules[0].destinations', message: 'at least one' },
      { location: 'body.generation_rules[0].destinations[1].address', message: 'bad' },
      { location: 'body.generation_rules[10].destinations', message: 'other rule' },
    ] })
    expect(errorsAt(fe, 'generation_rules.0.destinations')).toEqual(['at least one'])
    expect(errorsUnder(fe, 'generation_rules.0.destinations')).toEqual(['at least one', 'bad'])
    expect(errorsUnder(fe, 'generation_rules.1')).toEqual([])
    expect(problemMessage({ detail: 'nope', errors: [{ location: 'body.name', message: 'empty' }] })).toBe('nope name: empty')
  })
})
