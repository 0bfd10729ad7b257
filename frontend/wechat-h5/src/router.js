import { createRouter, createWebHistory } from 'vue-router'
import { currentSession, rememberAppid } from './session'

const TITLE = '粉丝中心'

const router = createRouter({
  history: createWebHistory(import.meta.env.BASE_URL),
  routes: [
    { path: '/', name: 'profile', component: () => import('./views/ProfileView.vue'), meta: { title: '我的资料' } },
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
  // An entry link names its Official Account: /h5/wechat/?appid=wx...
  if (typeof to.query.appid === 'string' && /^wx[0-9A-Za-z]{16}$/.test(to.query.appid)) rememberAppid(to.query.appid)
  if (to.meta.public || currentSession()) return true
  return { name: 'login', query: to.fullPath === '/' ? {} : { next: to.fullPath } }
})

router.afterEach((to) => {
  document.title = to.meta.title ? `${to.meta.title} - ${TITLE}` : TITLE
})

export default router
