import { defineConfig, loadEnv } from 'vite'
import vue from '@vitejs/plugin-vue'
import { h5Config } from '../h5-common/vite.js'

// weixin-js-sdk stays out of the vendor chunk: only pages that use the JS-SDK load it.
export default defineConfig(
  h5Config({
    name: 'wechat',
    port: 5174,
    root: import.meta.url,
    loadEnv,
    plugins: [vue()],
    vendor: /node_modules[\\/](?!weixin-js-sdk)/,
  }),
)
