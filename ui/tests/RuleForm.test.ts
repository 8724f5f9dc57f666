import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import { defineComponent, h, ref } from 'vue'
import { noErrors, problemToFieldErrors, type FieldErrors } from '../src/api/problem'
import RuleForm from '../src/components/RuleForm.vue'
import { emptyDraft, type RuleDraft } from '../src/rules/model'
import { flush } from './helpers'

const offered = [
  { protocol: 'email' as const, address: 'alice@example.org' },
  { protocol: 'matrix' as const, address: '@alice:fedora.im' },
]

function mountForm(opts: { errors?: FieldErrors; draft?: RuleDraft; isAdmin?: boolean } = {}) {
  const draft = ref<RuleDraft>(opts.draft ?? emptyDraft('alice', offered))
  const errors = ref<FieldErrors>(opts.errors ?? noErrors())
  const submitted: number[] = []
  const artifactQueries: string[] = []
  const Host = defineComponent({
    setup() {
      return () =>
        h(RuleForm, {
          modelValue: draft.value,
          'onUpdate:modelValue': (v: RuleDraft) => (draft.value = v),
          errors: errors.value,
          username: 'alice',
          destinations: offered,
          groups: ['infra', 'qa'],
          applications: ['bodhi', 'koji', 'pagure'],
          isAdmin: opts.isAdmin ?? false,
          searchArtifacts: async (q: string) => {
            artifactQueries.push(q)
            return [{ value: 'rpms/kernel', label: 'kernel (rpms)' }, { value: 'rpms/kernel-headers', label: 'kernel-headers (rpms)' }]
          },
          searchUsers: async (q: string) => [{ value: q + '1' }],
          onSubmit: () => submitted.push(1),
        })
    },
  })
  const w = mount(Host, { attachTo: document.body })
  return { w, draft, errors, submitted, artifactQueries }
}

describe('RuleForm', () => {
  it('shows the picker for each tracking type', async () => {
    const { w, draft } = mountForm()
    expect(w.find('label[for="f-tracking_rule-params"]').text()).toBe('Owners')
    expect(w.findAll('.chip').map((c) => c.text())).toEqual(['alice×'])

    await w.find('input[value="artifacts-group-owned"]').setValue(true)
    expect(draft.value.tracking).toBe('artifacts-group-owned')
    const groups = w.findAll('input[type="checkbox"][value]')
    expect(groups.map((g) => g.attributes('value'))).toEqual(['infra', 'qa'])
    await groups[1].setValue(true)
    expect(draft.value.groups).toEqual(['qa'])

    await w.find('input[value="related-events"]').setValue(true)
    expect(w.text()).toContain('Messages that name you (alice)')

    await w.find('input[value="users-followed"]').setValue(true)
    expect(w.find('label[for="f-tracking_rule-params"]').text()).toBe('People to follow')
    w.unmount()
  })

  it('picks artifacts from the search with the keyboard', async () => {
    const { w, draft, artifactQueries } = mountForm()
    await w.find('input[value="artifacts-followed"]').setValue(true)
    const input = w.find('#f-tracking_rule-params')
    await input.trigger('focus')
    await input.setValue('kern')
    await new Promise((r) => setTimeout(r, 300))
    await flush()
    expect(artifactQueries).toEqual(['kern'])
    expect(input.attributes('aria-expanded')).toBe('true')
    expect(w.findAll('[role="option"]').map((o) => o.text())).toEqual(['kernel (rpms)', 'kernel-headers (rpms)'])
    await input.trigger('keydown', { key: 'ArrowDown' })
    await input.trigger('keydown', { key: 'ArrowDown' })
    expect(input.attributes('aria-activedescendant')).toBe('f-tracking_rule-params-opt-1')
    await input.trigger('keydown', { key: 'Enter' })
    expect(draft.value.artifacts).toEqual([{ type: 'rpms', name: 'kernel-headers' }])
    // A typed name that is not offered is added with the chosen type.
    await w.find('#new-artifact-type').setValue('containers')
    await input.setValue('toolbox')
    await input.trigger('keydown', { key: 'Enter' })
    expect(draft.value.artifacts).toEqual([{ type: 'rpms', name: 'kernel-headers' }, { type: 'containers', name: 'toolbox' }])
    await w.find('button[aria-label="Remove kernel-headers (rpms)"]').trigger('click')
    expect(draft.value.artifacts).toEqual([{ type: 'containers', name: 'toolbox' }])
    // Leaving the field closes the suggestions.
    await input.setValue('kern')
    await input.trigger('blur')
    await new Promise((r) => setTimeout(r, 300))
    await flush()
    expect(input.attributes('aria-expanded')).toBe('false')
    expect(artifactQueries).toEqual(['kern'])
    w.unmount()
  })

  it('edits destinations and filters', async () => {
    const { w, draft } = mountForm()
    const boxes = w.findAll('.delivery .check-row input[type="checkbox"]')
    expect(boxes.map((b) => (b.element as HTMLInputElement).checked)).toEqual([true, false])
    await boxes[1].setValue(true)
    await boxes[0].setValue(false)
    expect(draft.value.generation_rules[0].destinations).toEqual([{ protocol: 'matrix', address: '@alice:fedora.im' }])
    const sev = w.findAll('.inline-checks input[type="checkbox"]')
    await sev[3].setValue(true)
    await sev[0].setValue(true)
    expect(draft.value.generation_rules[0].filters.severities).toEqual(['debug', 'error'])
    await w.find('#f-generation_rules-0-filters-topic').setValue('org.fedoraproject.*.bodhi.*')
    await w.find('#f-generation_rules-0-filters-my_actions').setValue(true)
    expect(draft.value.generation_rules[0].filters).toMatchObject({ topic: 'org.fedoraproject.*.bodhi.*', my_actions: true })
    await w.find('button.secondary').trigger('click')
    expect(draft.value.generation_rules).toHaveLength(2)
    expect(w.findAll('fieldset.delivery > legend').map((l) => l.text())).toEqual(['Delivery 1', 'Delivery 2'])
    w.unmount()
  })

  it('shows API validation errors next to their fields', async () => {
    const d = emptyDraft('alice', offered)
    d.name = 'x'
    d.generation_rules[0].destinations = [{ protocol: 'matrix', address: 'alice' }]
    const errors = problemToFieldErrors({
      title: 'Unprocessable Entity',
      status: 422,
      detail: 'validation failed',
      errors: [
        { location: 'body.generation_rules[0].destinations[0].address', message: 'use the @username:server.tld form' },
        { location: 'body.generation_rules[0].filters.topic', message: 'bad glob' },
        { location: 'body.name', message: 'name taken' },
      ],
    })
    const { w } = mountForm({ draft: d, errors })
    const name = w.find('#f-name')
    expect(name.attributes('aria-invalid')).toBe('true')
    expect(name.attributes('aria-describedby')).toBe('f-name-error')
    expect(w.find('#f-name-error').text()).toBe('Error: name taken')

    const addrErr = w.find('#f-generation_rules-0-destinations-0-address')
    expect(addrErr.text()).toBe('Error: use the @username:server.tld form')
    // The destination's checkbox points at its message.
    const row = addrErr.element.closest('.check-row')!
    expect(row.querySelector('input')!.getAttribute('aria-describedby')).toBe('f-generation_rules-0-destinations-0-address')

    expect(w.find('details.filters').attributes('open')).toBeDefined()
    const topic = w.find('#f-generation_rules-0-filters-topic')
    expect(topic.attributes('aria-invalid')).toBe('true')
    expect(w.find('#f-generation_rules-0-filters-topic-error').text()).toBe('Error: bad glob')

    const summary = w.find('.error-summary')
    expect(summary.attributes('role')).toBe('alert')
    expect(summary.findAll('li').map((l) => l.text())).toEqual([
      'validation failed',
      'Destination matrix: alice: use the @username:server.tld form',
      'Topic: bad glob',
      'Name: name taken',
    ])
    w.unmount()
  })

  it('submits on Enter in a text field', async () => {
    const { w, submitted } = mountForm()
    await w.find('form').trigger('submit')
    expect(submitted).toEqual([1])
    w.unmount()
  })

  it('lets admins add any destination, checked like the API does', async () => {
    const { w, draft } = mountForm({ isAdmin: true })
    await w.find('#custom-proto-0').setValue('matrix')
    await w.find('#custom-addr-0').setValue('bob')
    await w.find('.custom-dest button').trigger('click')
    expect(w.find('#custom-addr-0-error').text()).toContain('@username:server.tld')
    await w.find('#custom-addr-0').setValue('@bob:example.org')
    await w.find('.custom-dest button').trigger('click')
    expect(draft.value.generation_rules[0].destinations.map((d) => d.address)).toEqual(['alice@example.org', '@bob:example.org'])
    w.unmount()
  })
})
