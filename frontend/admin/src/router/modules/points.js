import { markRaw } from 'vue'
import { Goods, List, Present, Setting, ShoppingCart, Wallet } from '@element-plus/icons-vue'
import { POINTS_PERMISSIONS as P } from '@/views/points/constants'

// 积分商城: accounts and their ledger, earning rules, the mall's products and exchange orders.
export default {
  path: '/points',
  name: 'points',
  meta: { title: '积分商城', icon: markRaw(Present), order: 40 },
  children: [
    {
      path: 'accounts',
      name: 'points-accounts',
      component: () => import('@/views/points/AccountsView.vue'),
      meta: { title: '积分账户', icon: markRaw(Wallet), permission: P.accountsRead },
    },
    {
      path: 'ledger',
      name: 'points-ledger',
      component: () => import('@/views/points/LedgerView.vue'),
      meta: { title: '积分流水', icon: markRaw(List), permission: P.accountsRead },
    },
    {
      path: 'rules',
      name: 'points-rules',
      component: () => import('@/views/points/RulesView.vue'),
      meta: { title: '积分规则', icon: markRaw(Setting), permission: P.rulesRead },
    },
    {
      path: 'products',
      name: 'points-products',
      component: () => import('@/views/points/ProductsView.vue'),
      meta: { title: '商品管理', icon: markRaw(Goods), permission: P.productsRead },
    },
    {
      path: 'orders',
      name: 'points-orders',
      component: () => import('@/views/points/OrdersView.vue'),
      meta: { title: '兑换订单', icon: markRaw(ShoppingCart), permission: P.ordersRead },
    },
  ],
}

