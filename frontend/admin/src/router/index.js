import { createRouter, createWebHistory } from 'vue-router'
import { useAuthStore } from '@/stores/auth'
import { hasPermission } from '@/utils/permissions'
import { safeRedirect } from '@/utils/redirect'
import { firstAllowedChildPath } from './menu'
import { moduleRoutes, routes } from './routes'

const APP_TITLE = 'WeDraw 管理后台'

// A module's own path ("/user-center") opens its first page the user may see.
for (const record of moduleRoutes) {
  if (!record.redirect && record.children?.length) {
    record.redirect = () => {
      const auth = useAuthStore()
      // Before /me has loaded, go to the first page; the guard checks it.
      if (!auth.user) return `${record.path}/${record.children[0].path}`
      return firstAllowedChildPath(record, auth.user) || { name: 'forbidden' }
    }
  }
}

const router = createRouter({
  history: createWebHistory(import.meta.env.BASE_URL),
  routes,
  scrollBehavior: () => ({ top: 0 }),
})

router.beforeEach(async (to) => {
  const auth = useAuthStore()

  if (to.meta.public) {
    // An already signed-in user opening /login goes straight in.
    if (to.name === 'login' && auth.isLoggedIn) {
      try {
        await auth.ensureUser()
        return safeRedirect(to.query.redirect)
      } catch {
        auth.clearSession()
      }
    }
    return true
  }

  if (!auth.isLoggedIn) {
    return { name: 'login', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } }
  }

  try {
    await auth.ensureUser()
  } catch (error) {
    if (error?.status === 401 || !auth.isLoggedIn) {
      auth.clearSession()
      return { name: 'login', query: { redirect: to.fullPath } }
    }
    // Server unreachable: let the layout show a retry screen.
    return true
  }

  const allowed = to.matched.every((record) => hasPermission(auth.user, record.meta?.permission))
  if (!allowed) return { name: 'forbidden', query: { from: to.fullPath } }
  return true
})

router.afterEach((to) => {
  const title = to.meta?.title
  document.title = title ? `${title} - ${APP_TITLE}` : APP_TITLE
})

export default router
