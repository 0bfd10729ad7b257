import { markRaw } from 'vue'
import { ChatLineRound, Document, Monitor, Promotion, Tickets } from '@element-plus/icons-vue'
import { MESSAGE_PERMISSIONS as P } from '@/views/message/constants'

// 消息中心: templates, campaigns (wizard and detail pages are hidden), the send log, the worker fleet.
export default {
  path: '/message',
  name: 'message',
  meta: { title: '消息中心', icon: markRaw(ChatLineRound), order: 60 },
  children: [
    {
      path: 'templates',
      name: 'message-templates',
      component: () => import('@/views/message/TemplatesView.vue'),
      meta: { title: '消息模板', icon: markRaw(Document), permission: P.templatesRead },
    },
    {
      path: 'campaigns',
      name: 'message-campaigns',
      component: () => import('@/views/message/CampaignsView.vue'),
      meta: { title: '群发活动', icon: markRaw(Promotion), permission: P.campaignsRead },
    },
    {
      path: 'campaigns/new',
      name: 'message-campaign-new',
      component: () => import('@/views/message/CampaignWizardView.vue'),
      meta: {
        title: '新建群发',
        hidden: true,
        activeMenu: '/message/campaigns',
        permission: [P.campaignsWrite],
      },
    },
    {
      path: 'campaigns/:id(\\d+)',
      name: 'message-campaign-detail',
      component: () => import('@/views/message/CampaignDetailView.vue'),
      meta: { title: '活动详情', hidden: true, activeMenu: '/message/campaigns', permission: P.campaignsRead },
    },
    {
      path: 'sends',
      name: 'message-sends',
      component: () => import('@/views/message/SendsView.vue'),
      meta: { title: '发送记录', icon: markRaw(Tickets), permission: P.sendsRead },
    },
    {
      path: 'workers',
      name: 'message-workers',
      component: () => import('@/views/message/WorkersView.vue'),
      meta: { title: '任务队列', icon: markRaw(Monitor), permission: P.workersRead },
    },
  ],
}
