import { markRaw } from 'vue'
import { Iphone, User } from '@element-plus/icons-vue'

// 小程序: the members who log in through the Mini Program (and the points H5).
export default {
  path: '/miniprogram',
  name: 'miniprogram',
  meta: { title: '小程序', icon: markRaw(Iphone), order: 35 },
  children: [
    {
      path: 'members',
      name: 'miniprogram-members',
      component: () => import('@/views/miniprogram/MembersView.vue'),
      meta: { title: '小程序会员', icon: markRaw(User), permission: 'miniprogram:members:read' },
    },
  ],
}
