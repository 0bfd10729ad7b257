import { fileURLToPath, URL } from 'node:url'
import { defineConfig, loadEnv } from 'vite'
import vue from '@vitejs/plugin-vue'

// The console is served at "/" by the same origin as the API ("/api/...").
// In development the Vite server proxies the backend paths; WEDRAW_API
// (environment or a .env.local file) points it at another backend.
export default defineConfig(({ mode }) => {
  const env = { ...loadEnv(mode, process.cwd(), 'WEDRAW_'), ...process.env }
  const apiTarget = env.WEDRAW_API || 'http://127.0.0.1:8080'
  const proxy = Object.fromEntries(
    ['/api', '/docs', '/health'].map((prefix) => [
      prefix,
      { target: apiTarget, changeOrigin: true, xfwd: true },
    ]),
  )

  return {
    base: '/',
    plugins: [vue()],
    resolve: {
      alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
    },
    server: { host: '127.0.0.1', port: 5173, proxy },
    preview: { host: '127.0.0.1', port: 4173, proxy },
    build: {
      outDir: 'dist',
      emptyOutDir: true,
      // Element Plus is registered globally, so its chunk is large by design;
      // it changes rarely and is cached separately from the app code.
      chunkSizeWarningLimit: 1200,
      rolldownOptions: {
        output: {
          codeSplitting: {
            groups: [
              { name: 'element-plus', test: /node_modules[\\/](element-plus|@element-plus|@vueuse|@floating-ui|@popperjs|@sxzz|lodash|lodash-es|dayjs|async-validator)/ },
              { name: 'vendor', test: /node_modules[\\/]/ },
            ],
          },
        },
      },
    },
  }
})
