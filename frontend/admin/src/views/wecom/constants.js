// Labels, permission codes and error texts of the 企业微信 pages.

export const WECOM_PERMISSIONS = {
  corpRead: 'wecom:corp:read',
  corpWrite: 'wecom:corp:write',
  contactsRead: 'wecom:contacts:read',
  contactsWrite: 'wecom:contacts:write',
  groupsRead: 'wecom:groups:read',
  groupsWrite: 'wecom:groups:write',
  robotsRead: 'wecom:robots:read',
  robotsWrite: 'wecom:robots:write',
  messagesRead: 'wecom:messages:read',
  messagesWrite: 'wecom:messages:write',
}

export const MEMBER_STATUS = {
  1: { label: '已激活', type: 'success' },
  2: { label: '已禁用', type: 'danger' },
  4: { label: '未激活', type: 'info' },
  5: { label: '已退出', type: 'info' },
}

export const GENDER_LABELS = { 0: '未知', 1: '男', 2: '女' }

export const SYNC_KINDS = {
  contacts: '通讯录',
  customers: '客户',
  groups: '客户群',
}

export const SYNC_STATUS = {
  pending: { label: '排队中', type: 'info' },
  running: { label: '同步中', type: 'primary' },
  succeeded: { label: '已完成', type: 'success' },
  failed: { label: '失败', type: 'danger' },
}

export const SYNC_STAGES = {
  departments: '读取部门',
  members: '读取成员',
  cleanup: '清理离职成员',
  tags: '读取标签',
  follow_users: '读取跟进成员',
  lists: '读取客户列表',
  customers: '读取客户详情',
  list: '读取客户群列表',
  groups: '读取客户群详情',
}

export const ROBOT_STATUS = {
  active: { label: '正常', type: 'success' },
  broken: { label: '已失效', type: 'danger' },
  disabled: { label: '已停用', type: 'info' },
}

export const MESSAGE_STATUS = {
  queued: { label: '排队中', type: 'info' },
  sending: { label: '发送中', type: 'primary' },
  sent: { label: '已发送', type: 'success' },
  failed: { label: '失败', type: 'danger' },
}

export const MSG_TYPES = [
  { value: 'text', label: '文本' },
  { value: 'markdown', label: 'Markdown' },
]

export const msgTypeLabel = (value) =>
  ({ text: '文本', markdown: 'Markdown', image: '图片', news: '图文', textcard: '文本卡片' })[value] || value

// What the check report's steps mean.
export const CHECK_STEPS = {
  token: '获取 access_token（企业 ID、Secret、可信 IP）',
  visibility: '应用可见范围',
  customers: '客户联系接口权限',
  config: '配置',
}

// WeCom errcodes the check and the syncs run into most, in plain words (the server's English text is the fallback).
export const PLAIN_WORDS = {
  40001: ['Secret 不正确，企业微信不接受。', '在企业微信管理后台「应用管理」中查看该应用的 Secret 并重新填写。'],
  40013: ['企业 ID（CorpID）不正确。', '在企业微信管理后台「我的企业 → 企业信息」中复制企业 ID。'],
  40056: ['应用的 AgentId 不正确。', '在「应用管理 → 应用详情」中核对 AgentId。'],
  41004: ['缺少 Secret。', '填写该应用的 Secret。'],
  42001: ['access_token 已过期。', '稍后重试，系统会自动刷新。'],
  48002: ['该 Secret 没有调用此接口的权限。', '在管理后台为通讯录同步开启读取权限，或在「客户联系 → 可调用接口的应用」中加入该应用。'],
  60011: ['应用不可见这部分组织架构（超出可见范围）。', '在「应用管理 → 可见范围」中加入相应部门或成员。'],
  60020: ['服务器 IP 不在企业可信 IP 列表中。', '在「应用管理 → 企业可信IP」中加入本服务器的公网 IP。'],
  84061: ['该成员没有客户。', ''],
  93000: ['机器人的 Webhook Key 无效或机器人已被移出群聊。', '在群聊中重新添加机器人，并填写新的 Webhook Key。'],
}

/** Plain Chinese words for a check item or a WeCom errcode (server text as fallback). */
export function plainWords(errcode, fallback = '') {
  const known = PLAIN_WORDS[errcode]
  return known ? { problem: known[0], advice: known[1] } : { problem: fallback, advice: '' }
}

/** Chinese text for an ApiError from this module's endpoints. */
export function wecomErrorText(error, fallback = '操作失败') {
  if (!error) return fallback
  const code = error.code || ''
  if (code === 'sync_in_progress') return '已有同类同步任务在进行中，请等待其完成'
  if (code === 'queue_unavailable') return '任务队列暂不可用，请稍后重试'
  if (code === 'robot_broken') return '机器人已失效（Webhook Key 无效），请更新 Key 后再发送'
  if (code === 'robot_disabled') return '机器人已停用'
  if (code === 'wecom_unavailable') return '企业微信接口暂时不可用，请稍后重试'
  const wecom = /^wecom_(-?\d+)$/.exec(code)
  if (wecom) {
    const known = PLAIN_WORDS[Number(wecom[1])]
    return known
      ? `企业微信拒绝了该操作（错误码 ${wecom[1]}）：${known[0]}${known[1] ? ' ' + known[1] : ''}`
      : `企业微信拒绝了该操作（错误码 ${wecom[1]}）：${error.serverMessage || error.message}`
  }
  return error.message || fallback
}

/** Byte length of a string as UTF-8 (WeCom counts robot text limits in bytes). */
export function utf8Bytes(text) {
  return new TextEncoder().encode(text || '').length
}

export const TEXT_LIMITS = { text: 2048, markdown: 4096 }
