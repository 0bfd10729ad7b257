import { createRouter, createWebHistory } from 'vue-router'
import { currentSession, rememberCorp } from './session'

const TITLE = '企业通讯录'

const router = createRouter({
  history: createWebHistory(import.meta.env.BASE_URL),
  routes: [
    { path: '/', name: 'profile', component: () => import('./views/ProfileView.vue'), meta: { title: '我的资料' } },
    {
      path: '/directory',
      name: 'directory',
      component: () => import('./views/DirectoryView.vue'),
      meta: { title: '通讯录' },
    },
    { path: '/login', name: 'login', component: () => import('./views/LoginView.vue'), meta: { title: '登录', public: true } },
    {
      path: '/oauth/callback',
      name: 'oauth-callback',
      component: () => import('./views/OAuthCallbackView.vue'),
      meta: { title: '正在登录', public: true },
    },
    { path: '/:pathMatch(.*)*', redirect: '/' },
  ],
})

router.beforeEach((to) => {
  // An entry link (the app's home page in WeCom) names its corp and app: /h5/wecom/?corp_id=ww...&agent_id=1000002
  const corpId = typeof to.query.corp_id === 'string' && /^[0-9A-Za-z]{1,32}$/.test(to.query.corp_id) ? to.query.corp_id : null
  const agentId = typeof to.query.agent_id === 'string' && /^\d{1,10}$/.test(to.query.agent_id) ? Number(to.query.agent_id) : null
  if (corpId || agentId) rememberCorp({ corpId, agentId })
  if (to.meta.public || currentSession()) return true
  return { name: 'login', query: to.path === '/' ? {} : { next: to.fullPath } }
})

router.afterEach((to) => {
  document.title = to.meta.title ? `${to.meta.title} - ${TITLE}` : TITLE
})

export default router
