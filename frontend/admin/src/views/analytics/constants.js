// Labels and permission codes of the 数据分析 pages.

export const ANALYTICS_PERMISSIONS = {
  dashboardRead: 'analytics:dashboard:read',
  reportsRead: 'analytics:reports:read',
  reportsWrite: 'analytics:reports:write',
}

export const GRANULARITIES = [
  { value: 'day', label: '按日' },
  { value: 'week', label: '按周' },
  { value: 'month', label: '按月' },
]

export const REPORT_STATUSES = [
  { value: 'queued', label: '排队中', tag: 'info' },
  { value: 'running', label: '生成中', tag: 'warning' },
  { value: 'done', label: '已完成', tag: 'success' },
  { value: 'failed', label: '失败', tag: 'danger' },
  { value: 'expired', label: '已过期', tag: 'info' },
]

export const reportStatus = (value) => REPORT_STATUSES.find((s) => s.value === value) || { label: value, tag: 'info' }

export const FAILURE_REASONS = {
  user: '用户拒收/未关注',
  quota: '超出频率或配额',
  config: '配置错误',
  robot: '群机器人不可用',
  unknown: '未知原因',
}

export const failureReason = (value) => FAILURE_REASONS[value] || value

const pad = (n) => String(n).padStart(2, '0')

/** A Date → local `YYYY-MM-DD` (the dashboard's days are China days, as the browser's are here). */
export function toDay(value) {
  const d = value instanceof Date ? value : new Date(value)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}

/** The last `days` days, today included, as [from, to] Dates. */
export function lastDays(days) {
  const to = new Date()
  const from = new Date()
  from.setDate(to.getDate() - (days - 1))
  return [from, to]
}

export function formatNumber(value) {
  return Number(value || 0).toLocaleString('zh-CN')
}

export function formatBytes(value) {
  if (value === null || value === undefined) return '-'
  if (value < 1024) return `${value} B`
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KB`
  return `${(value / 1024 / 1024).toFixed(1)} MB`
}
