import { markRaw } from 'vue'
import { Bell, ChatDotSquare, ChatLineSquare, OfficeBuilding, Promotion, Setting, UserFilled } from '@element-plus/icons-vue'
import { WECOM_PERMISSIONS as P } from '@/views/wecom/constants'

// 企业微信: every page but 企业配置 and 群机器人 works on the corp chosen in its corp bar.
export default {
  path: '/wecom',
  name: 'wecom',
  meta: { title: '企业微信', icon: markRaw(OfficeBuilding), order: 30 },
  children: [
    {
      path: 'corps',
      name: 'wecom-corps',
      component: () => import('@/views/wecom/CorpsView.vue'),
      meta: { title: '企业配置', icon: markRaw(Setting), permission: P.corpRead },
    },
    {
      path: 'contacts',
      name: 'wecom-contacts',
      component: () => import('@/views/wecom/ContactsView.vue'),
      meta: { title: '通讯录', icon: markRaw(UserFilled), permission: P.contactsRead },
    },
    {
      path: 'customers',
      name: 'wecom-customers',
      component: () => import('@/views/wecom/CustomersView.vue'),
      meta: { title: '客户与客户群', icon: markRaw(ChatDotSquare), permission: P.groupsRead },
    },
    {
      path: 'app-chats',
      name: 'wecom-app-chats',
      component: () => import('@/views/wecom/AppChatsView.vue'),
      meta: { title: '应用群聊', icon: markRaw(ChatLineSquare), permission: P.groupsRead },
    },
    {
      path: 'robots',
      name: 'wecom-robots',
      component: () => import('@/views/wecom/RobotsView.vue'),
      meta: { title: '群机器人', icon: markRaw(Bell), permission: P.robotsRead },
    },
    {
      path: 'app-messages',
      name: 'wecom-app-messages',
      component: () => import('@/views/wecom/AppMessagesView.vue'),
      meta: { title: '应用消息', icon: markRaw(Promotion), permission: P.messagesRead },
    },
  ],
}
