import { markRaw } from 'vue'
import { HomeFilled } from '@element-plus/icons-vue'
import AdminLayout from '@/layout/AdminLayout.vue'
import LoginView from '@/views/LoginView.vue'

// Every file in ./modules/ default-exports one module route record (see
// user-center.js). Adding a business module = adding a file there.
const moduleFiles = import.meta.glob('./modules/*.js', { eager: true })

export const moduleRoutes = Object.values(moduleFiles)
  .map((m) => m.default)
  .filter(Boolean)
  .sort((a, b) => (a.meta?.order ?? 100) - (b.meta?.order ?? 100))

/** Children of the layout route; the side menu is generated from these. */
export const layoutChildren = [
  {
    path: '',
    name: 'home',
    component: () => import('@/views/HomeView.vue'),
    meta: { title: '欢迎页', icon: markRaw(HomeFilled), testId: 'home' },
  },
  ...moduleRoutes,
  {
    path: '403',
    name: 'forbidden',
    component: () => import('@/views/ForbiddenView.vue'),
    meta: { title: '没有权限', hidden: true },
  },
  {
    path: ':pathMatch(.*)*',
    name: 'not-found',
    component: () => import('@/views/NotFoundView.vue'),
    meta: { title: '页面不存在', hidden: true },
  },
]

export const routes = [
  {
    path: '/login',
    name: 'login',
    component: LoginView,
    meta: { title: '登录', public: true },
  },
  {
    path: '/',
    component: AdminLayout,
    children: layoutChildren,
  },
]
