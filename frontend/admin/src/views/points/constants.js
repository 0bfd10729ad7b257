// Labels, permission codes and error texts of the 积分商城 pages.

export const POINTS_PERMISSIONS = {
  accountsRead: 'points:accounts:read',
  accountsWrite: 'points:accounts:write',
  rulesRead: 'points:rules:read',
  rulesWrite: 'points:rules:write',
  productsRead: 'points:products:read',
  productsWrite: 'points:products:write',
  ordersRead: 'points:orders:read',
  ordersWrite: 'points:orders:write',
}

export const BUSINESS_TYPES = [
  { value: 'subscribe_bonus', label: '关注奖励' },
  { value: 'sign_in', label: '每日签到' },
  { value: 'streak_bonus', label: '连续签到奖励' },
  { value: 'admin_grant', label: '后台发放' },
  { value: 'admin_deduct', label: '后台扣减' },
  { value: 'redemption', label: '积分兑换' },
  { value: 'redemption_refund', label: '兑换退回' },
  { value: 'expiry', label: '积分过期' },
]

export const businessTypeLabel = (value) => BUSINESS_TYPES.find((t) => t.value === value)?.label || value

export const ORDER_STATUSES = [
  { value: 'pending_shipment', label: '待发货', tag: 'warning' },
  { value: 'shipped', label: '已发货', tag: 'primary' },
  { value: 'completed', label: '已完成', tag: 'success' },
  { value: 'cancelled', label: '已取消', tag: 'info' },
  { value: 'refunded', label: '已退款', tag: 'danger' },
]

export const orderStatus = (value) => ORDER_STATUSES.find((s) => s.value === value) || { label: value, tag: 'info' }

export const STOCK_REASONS = {
  initial: '初始库存',
  adjustment: '手工调整',
  redemption: '兑换扣减',
  cancel: '取消退回',
  refund: '退款退回',
}

export const CARRIERS = ['顺丰速运', '中通快递', '圆通速递', '韵达快递', '申通快递', '京东物流', 'EMS', '极兔速递']

const CODE_TEXTS = {
  insufficient_points: '积分余额不足',
  insufficient_stock: '库存不足',
  purchase_limit_exceeded: '超出每人限兑数量',
  idempotency_key_reused: '重复提交的请求与原请求不一致，请刷新后重试',
  category_in_use: '该分类下还有商品，请先移走商品再删除',
  product_in_use: '该商品已有兑换记录，不能删除，请改为下架',
  product_not_found: '商品不存在或已下架',
  order_already_refunded: '该订单的积分和库存已退回过，不会重复退回',
  queue_unavailable: '任务队列暂不可用，请稍后重试',
  price_changed: '商品价格刚刚变动，请刷新后重试',
  payload_too_large: '图片不能超过 5 MB',
}

const STATUS_TEXTS = {
  pending_shipment: '待发货',
  shipped: '已发货',
  completed: '已完成',
  cancelled: '已取消',
  refunded: '已退款',
}

/** Chinese text for an ApiError from this module's endpoints (the server's messages are English). */
export function pointsErrorText(error, fallback = '操作失败') {
  if (!error) return fallback
  const code = error.code || ''
  if (CODE_TEXTS[code]) {
    // Keep the server's numbers (balance, stock, limit) visible next to the Chinese reason.
    const detail = error.serverMessage ? `（${error.serverMessage}）` : ''
    return `${CODE_TEXTS[code]}${detail}`
  }
  const status = /^order_(\w+)$/.exec(code)
  if (status && STATUS_TEXTS[status[1]]) return `订单当前状态为「${STATUS_TEXTS[status[1]]}」，不能执行此操作`
  if (error.status === 404) return '记录不存在或已被删除'
  return error.message || fallback
}

/** Field errors of a 422 as `{field: text}` for el-form-item `:error`. */
export function fieldErrorsOf(error) {
  const out = {}
  for (const [field, messages] of Object.entries(error?.errors || {})) {
    out[field] = Array.isArray(messages) ? messages.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join('；') : JSON.stringify(messages)
  }
  return out
}

export const formatPoints = (value) => (value === null || value === undefined ? '-' : Number(value).toLocaleString('zh-CN'))
