import { createRouter, createWebHistory } from 'vue-router'
import { currentSession } from './session'

const TITLE = '积分商城'

const router = createRouter({
  history: createWebHistory(import.meta.env.BASE_URL),
  routes: [
    { path: '/', name: 'mall', component: () => import('./views/MallView.vue'), meta: { title: '积分商城', tab: true } },
    {
      path: '/products/:id(\\d+)',
      name: 'product',
      component: () => import('./views/ProductView.vue'),
      meta: { title: '商品详情' },
    },
    { path: '/sign-in', name: 'sign-in', component: () => import('./views/SignInView.vue'), meta: { title: '每日签到', tab: true } },
    { path: '/orders', name: 'orders', component: () => import('./views/OrdersView.vue'), meta: { title: '我的订单', tab: true } },
    { path: '/me', name: 'me', component: () => import('./views/MeView.vue'), meta: { title: '我的积分', tab: true } },
    { path: '/login', name: 'login', component: () => import('./views/LoginView.vue'), meta: { title: '登录', public: true } },
    { path: '/:pathMatch(.*)*', redirect: '/' },
  ],
})

router.beforeEach((to) => {
  if (to.meta.public || currentSession()) return true
  return { name: 'login', query: to.fullPath === '/' ? {} : { next: to.fullPath } }
})

router.afterEach((to) => {
  document.title = to.meta.title && to.meta.title !== TITLE ? `${to.meta.title} - ${TITLE}` : TITLE
})

export default router
