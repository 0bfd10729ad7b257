// Permission codes are `<area>:<thing>:<read|write>`.

export const PERMISSIONS = {
  usersRead: 'user:users:read',
  usersWrite: 'user:users:write',
  rolesRead: 'user:roles:read',
  rolesWrite: 'user:roles:write',
  auditRead: 'user:audit:read',
  sessionsRead: 'user:sessions:read',
  sessionsWrite: 'user:sessions:write',
}

/** Roles that may do everything, whatever their permission list says. */
export const SUPERUSER_ROLES = ['super_admin']

/** What the built-in roles are called on screen (their names stay the identifiers). */
export const BUILTIN_ROLE_LABELS = { super_admin: '超级管理员', operator: '运营', read_only: '只读' }

export function roleLabel(name) {
  return BUILTIN_ROLE_LABELS[name] || name
}

/** Display names of permission areas, in the order the picker shows them. */
export const AREA_LABELS = {
  user: '用户中心',
  wechat: '公众号',
  wecom: '企业微信',
  miniprogram: '小程序',
  points: '积分商城',
  message: '消息中心',
  analytics: '数据分析',
  pii: '敏感信息',
}

export function areaLabel(area) {
  return AREA_LABELS[area] || area
}

const ACTION_LABELS = { read: '查看', write: '管理' }

export function actionLabel(code) {
  const action = String(code).split(':').pop()
  return ACTION_LABELS[action] || action
}

/**
 * True when `user` holds `required`: a code, or a list of codes of which any
 * one is enough. An empty requirement is always met.
 */
export function hasPermission(user, required) {
  if (!required || (Array.isArray(required) && required.length === 0)) return true
  if (!user) return false
  const roles = (user.roles || []).map((r) => (typeof r === 'string' ? r : r?.name))
  if (roles.some((r) => SUPERUSER_ROLES.includes(r))) return true
  const granted = new Set(user.permissions || [])
  if (granted.has('*')) return true
  const list = Array.isArray(required) ? required : [required]
  return list.some((code) => granted.has(code))
}

/** Groups `[{code, area, description}]` by area, known areas first. */
export function groupPermissionsByArea(permissions) {
  const groups = new Map()
  for (const p of permissions || []) {
    const area = p.area || String(p.code).split(':')[0]
    if (!groups.has(area)) groups.set(area, [])
    groups.get(area).push(p)
  }
  const known = Object.keys(AREA_LABELS)
  const order = (area) => {
    const i = known.indexOf(area)
    return i === -1 ? known.length : i
  }
  return [...groups.entries()]
    .sort(([a], [b]) => order(a) - order(b) || a.localeCompare(b))
    .map(([area, items]) => ({
      area,
      label: areaLabel(area),
      items: [...items].sort((x, y) => x.code.localeCompare(y.code)),
    }))
}
