import { createApp } from 'vue'
import { createPinia } from 'pinia'
import ElementPlus, { ElMessage } from 'element-plus'
import zhCn from 'element-plus/es/locale/lang/zh-cn'
import 'element-plus/dist/index.css'
import './styles/main.css'

import App from './App.vue'
import router from './router'
import { setSessionExpiredHandler } from './api/http'

const app = createApp(App)
// Pinia first: the router's guard reads the auth store on the first navigation.
app.use(createPinia())
app.use(router)
app.use(ElementPlus, { locale: zhCn })

setSessionExpiredHandler((message) => {
  ElMessage({ type: 'warning', message, grouping: true })
  const current = router.currentRoute.value
  if (current.name !== 'login') {
    router.replace({ name: 'login', query: current.meta.public ? {} : { redirect: current.fullPath } })
  }
})

app.mount('#app')
