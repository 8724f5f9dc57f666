/// <reference types="vitest/config" />
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { Plugin } from 'vite'

// `npm run dev` proxies the API and /config.json to a running `fmn dev`
// (FMN_URL, default http://127.0.0.1:8080).
const backend = process.env.FMN_URL ?? 'http://127.0.0.1:8080'

// swaggerUI copies swagger-ui-dist (pinned in package.json) into the build as
// docs/…, so fmn serves its interactive API docs (/api/docs, ui/docs.go) without
// loading anything from the internet.
function swaggerUI(): Plugin {
  const files = ['swagger-ui-bundle.js', 'swagger-ui.css', 'LICENSE', 'NOTICE']
  return {
    name: 'fmn-swagger-ui',
    apply: 'build',
    generateBundle() {
      const dir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))
      for (const f of files) {
        this.emitFile({ type: 'asset', fileName: `docs/${f}`, source: readFileSync(join(dir, f)) })
      }
    },
  }
}

export default defineConfig({
  plugins: [vue(), swaggerUI()],
  build: {
    // ui/ui.go embeds dist/; dist/index.html is the committed placeholder and the
    // real build goes to dist/app/ (ignored by git), so building never dirties git.
    outDir: 'dist/app',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 300,
  },
  server: {
    host: '127.0.0.1',
    proxy: {
      '/api': backend,
      '/config.json': backend,
    },
  },
  test: {
    environment: 'happy-dom',
    include: ['tests/**/*.test.ts'],
    restoreMocks: true,
  },
})
