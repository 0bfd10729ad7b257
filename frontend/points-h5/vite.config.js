import { defineConfig, loadEnv } from 'vite'
import vue from '@vitejs/plugin-vue'
import { h5Config } from '../h5-common/vite.js'

export default defineConfig(h5Config({ name: 'points', port: 5176, root: import.meta.url, loadEnv, plugins: [vue()] }))
