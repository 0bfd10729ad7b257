import { markRaw } from 'vue'
import { DataAnalysis, Document, TrendCharts } from '@element-plus/icons-vue'
import { ANALYTICS_PERMISSIONS as P } from '@/views/analytics/constants'

// 数据分析: the dashboard of daily statistics, and reports written by workers.
export default {
  path: '/analytics',
  name: 'analytics',
  meta: { title: '数据分析', icon: markRaw(DataAnalysis), order: 70 },
  children: [
    {
      path: 'dashboard',
      name: 'analytics-dashboard',
      component: () => import('@/views/analytics/DashboardView.vue'),
      meta: { title: '数据看板', icon: markRaw(TrendCharts), permission: P.dashboardRead },
    },
    {
      path: 'reports',
      name: 'analytics-reports',
      component: () => import('@/views/analytics/ReportsView.vue'),
      meta: { title: '报表中心', icon: markRaw(Document), permission: P.reportsRead },
    },
  ],
}
