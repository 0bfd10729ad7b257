import { markRaw } from 'vue'
import { Document, Key, Monitor, Tickets, User, UserFilled } from '@element-plus/icons-vue'
import { PERMISSIONS } from '@/utils/permissions'

// A module is one route record whose children are its pages.
//   meta.title       menu / breadcrumb / tab title (Chinese)
//   meta.icon        an @element-plus/icons-vue component (wrap in markRaw)
//   meta.permission  code, or list of codes (any one suffices), needed to see the page
//   meta.testId      menu item gets data-test="menu-<testId>" (defaults to the route name)
//   meta.order       module position in the menu (lower first)
//   meta.hidden      reachable but not in the menu (detail pages)
//   meta.activeMenu  menu path to highlight for a hidden page
export default {
  path: '/user-center',
  name: 'user-center',
  meta: { title: '用户中心', icon: markRaw(UserFilled), order: 10 },
  children: [
    {
      path: 'users',
      name: 'users',
      component: () => import('@/views/user-center/UsersView.vue'),
      meta: { title: '用户管理', icon: markRaw(User), permission: PERMISSIONS.usersRead },
    },
    {
      path: 'roles',
      name: 'roles',
      component: () => import('@/views/user-center/RolesView.vue'),
      meta: { title: '角色管理', icon: markRaw(Key), permission: PERMISSIONS.rolesRead },
    },
    {
      path: 'audit',
      name: 'audit',
      component: () => import('@/views/user-center/AuditLogView.vue'),
      meta: { title: '审计日志', icon: markRaw(Document), permission: PERMISSIONS.auditRead },
    },
    {
      path: 'login-logs',
      name: 'login-logs',
      component: () => import('@/views/user-center/LoginLogView.vue'),
      meta: { title: '登录日志', icon: markRaw(Tickets), permission: PERMISSIONS.sessionsRead },
    },
    {
      path: 'sessions',
      name: 'sessions',
      component: () => import('@/views/user-center/SessionsView.vue'),
      meta: { title: '在线会话', icon: markRaw(Monitor), permission: PERMISSIONS.sessionsRead },
    },
  ],
}
