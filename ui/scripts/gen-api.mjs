// Generates src/api/schema.d.ts from fmn's OpenAPI document.
//
//   npm run gen:api                          # from the saved ui/openapi.json
//   npm run gen:api -- --fetch http://127.0.0.1:8080/api/v1/openapi.json
//                                            # save a running fmn's document first
//
// The e2e test (e2e/fmn.test.mjs) fails when the saved document or the types differ
// from what the fmn it starts serves.
import { readFile, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { schemaSource, serialize } from './openapi-types.mjs'

const args = process.argv.slice(2)
const at = args.indexOf('--fetch')
if (at >= 0) {
  const url = args[at + 1]
  const res = await fetch(url)
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`)
  await writeFile('openapi.json', serialize(await res.json()))
  console.log(`saved ${url} to openapi.json`)
}
if (!existsSync('openapi.json')) {
  console.error('gen:api: no ui/openapi.json. Save the API document first:\n' +
    '  npm run gen:api -- --fetch http://127.0.0.1:8080/api/v1/openapi.json')
  process.exit(1)
}
const { source, paths } = await schemaSource(JSON.parse(await readFile('openapi.json', 'utf8')))
await writeFile('src/api/schema.d.ts', source)
console.log(`wrote src/api/schema.d.ts (${paths} paths)`)
