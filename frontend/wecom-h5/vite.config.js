import { fileURLToPath, URL } from 'node:url'
import { defineConfig, loadEnv } from 'vite'
import vue from '@vitejs/plugin-vue'

// Served at /h5/wecom/ by the same origin as the API (the embedded front door and
// Nginx both mount it there). In development the Vite server proxies /api to a
// backend (WEDRAW_API, default the embedded front door) without rewriting Host:
// the API accepts OAuth redirect URLs only on the host the page is on.
export default defineConfig(({ mode }) => {
  const env = { ...loadEnv(mode, process.cwd(), 'WEDRAW_'), ...process.env }
  const apiTarget = env.WEDRAW_API || 'http://127.0.0.1:8080'
  const proxy = { '/api': { target: apiTarget, changeOrigin: false, xfwd: true } }

  return {
    base: '/h5/wecom/',
    plugins: [vue()],
    resolve: {
      alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
    },
    server: { host: '127.0.0.1', port: 5175, proxy },
    preview: { host: '127.0.0.1', port: 4175, proxy },
    build: {
      outDir: 'dist',
      emptyOutDir: true,
      rolldownOptions: {
        output: {
          codeSplitting: {
            groups: [
              { name: 'vant', test: /node_modules[\\/](vant|@vant)/ },
              { name: 'vendor', test: /node_modules[\\/]/ },
            ],
          },
        },
      },
    },
  }
})
