import { markRaw } from 'vue'
import {
  ChatDotRound,
  ChatLineSquare,
  Collection,
  Menu as MenuIcon,
  Picture,
  PriceTag,
  Setting,
  Tickets,
  User,
} from '@element-plus/icons-vue'
import { WECHAT_PERMISSIONS as P } from '@/views/wechat/constants'

// 公众号: every page but 公众号账号 works on the account chosen in its account bar.
export default {
  path: '/wechat',
  name: 'wechat',
  meta: { title: '公众号', icon: markRaw(ChatDotRound), order: 20 },
  children: [
    {
      path: 'accounts',
      name: 'wechat-accounts',
      component: () => import('@/views/wechat/AccountsView.vue'),
      meta: { title: '公众号账号', icon: markRaw(Setting), permission: P.accountsRead },
    },
    {
      path: 'fans',
      name: 'wechat-fans',
      component: () => import('@/views/wechat/FansView.vue'),
      meta: { title: '粉丝管理', icon: markRaw(User), permission: P.fansRead },
    },
    {
      path: 'tags',
      name: 'wechat-tags',
      component: () => import('@/views/wechat/TagsView.vue'),
      meta: { title: '标签管理', icon: markRaw(PriceTag), permission: P.tagsRead },
    },
    {
      path: 'menus',
      name: 'wechat-menus',
      component: () => import('@/views/wechat/MenusView.vue'),
      meta: { title: '自定义菜单', icon: markRaw(MenuIcon), permission: P.menusRead },
    },
    {
      path: 'replies',
      name: 'wechat-replies',
      component: () => import('@/views/wechat/RepliesView.vue'),
      meta: { title: '自动回复', icon: markRaw(ChatLineSquare), permission: P.repliesRead },
    },
    {
      path: 'qrcodes',
      name: 'wechat-qrcodes',
      component: () => import('@/views/wechat/QrCodesView.vue'),
      meta: { title: '二维码', icon: markRaw(Collection), permission: P.qrcodesRead },
    },
    {
      path: 'materials',
      name: 'wechat-materials',
      component: () => import('@/views/wechat/MaterialsView.vue'),
      meta: { title: '素材管理', icon: markRaw(Picture), permission: P.materialsRead },
    },
    {
      path: 'messages',
      name: 'wechat-messages',
      component: () => import('@/views/wechat/MessagesView.vue'),
      meta: { title: '消息记录', icon: markRaw(Tickets), permission: P.messagesRead },
    },
  ],
}
