// The Vite config of every H5 app. An app's vite.config.js passes what it resolves from its own
// node_modules (the Vue plugin, loadEnv), so this file imports nothing but Node built-ins.
import { fileURLToPath, URL } from 'node:url'

/**
 * @param {object} options
 * @param {string} options.name       the app's path segment: served at /h5/<name>/
 * @param {number} options.port       Vite dev server port (preview: port - 1000)
 * @param {string} options.root       the app's folder (import.meta.url of its vite.config.js)
 * @param {Function} options.loadEnv  vite's loadEnv
 * @param {Array} options.plugins     e.g. [vue()]
 * @param {RegExp} [options.vendor]   which node_modules go to the vendor chunk
 */
export function h5Config({ name, port, root, loadEnv, plugins, vendor = /node_modules[\\/]/ }) {
  // Served at /h5/<name>/ by the same origin as the API (the embedded front door and Nginx both
  // mount it there). In development the Vite server proxies /api to a backend (WEDRAW_API, default
  // the embedded front door) without rewriting Host: the API accepts OAuth redirect and JS-SDK URLs
  // only on the host the page is on.
  return ({ mode }) => {
    const env = { ...loadEnv(mode, process.cwd(), 'WEDRAW_'), ...process.env }
    const apiTarget = env.WEDRAW_API || 'http://127.0.0.1:8080'
    const proxy = { '/api': { target: apiTarget, changeOrigin: false, xfwd: true } }
    return {
      base: `/h5/${name}/`,
      plugins,
      resolve: {
        alias: { '@': fileURLToPath(new URL('./src', root)) },
        // Files of h5-common import these: take the app's copy, not a search up from h5-common.
        dedupe: ['vue', 'vue-router', 'vant', 'axios'],
      },
      server: { host: '127.0.0.1', port, proxy },
      preview: { host: '127.0.0.1', port: port - 1000, proxy },
      build: {
        outDir: 'dist',
        emptyOutDir: true,
        rolldownOptions: {
          output: {
            codeSplitting: {
              groups: [
                { name: 'vant', test: /node_modules[\\/](vant|@vant)/ },
                { name: 'vendor', test: vendor },
              ],
            },
          },
        },
      },
    }
  }
}
