// Labels, permission codes and error texts of the 消息中心 pages.

export const MESSAGE_PERMISSIONS = {
  templatesRead: 'message:templates:read',
  templatesWrite: 'message:templates:write',
  campaignsRead: 'message:campaigns:read',
  campaignsWrite: 'message:campaigns:write',
  sendsRead: 'message:sends:read',
  sendsWrite: 'message:sends:write',
  workersRead: 'message:workers:read',
}

export const CHANNEL_LABELS = {
  oa_template: '公众号模板消息',
  oa_custom: '公众号客服消息',
  oa_mass: '公众号群发',
  mp_subscribe: '小程序订阅消息',
  wecom_app: '企业微信应用消息',
  wecom_appchat: '企业微信群聊消息',
  group_robot: '企业微信群机器人',
}

export const channelLabel = (value) => CHANNEL_LABELS[value] || value || '-'

export const SENDER_KIND_LABELS = {
  official_account: '公众号',
  mini_program: '小程序',
  wecom_app: '企业微信应用',
  group_robot: '群机器人',
}

export const senderLabel = (sender) =>
  sender ? `${sender.name}（${SENDER_KIND_LABELS[sender.kind] || sender.kind}）` : '-'

export const VARIABLE_TYPES = [
  { value: 'string', label: '文本', hint: '任意文本，200 字以内' },
  { value: 'thing', label: '事物', hint: '20 个字以内' },
  { value: 'number', label: '数字', hint: '数字，可带小数点' },
  { value: 'letter', label: '字母', hint: '32 个字母以内' },
  { value: 'symbol', label: '符号', hint: '5 个符号以内' },
  { value: 'character_string', label: '字符串', hint: '32 个字母、数字或符号，不含中文' },
  { value: 'time', label: '时间', hint: '如 2026-01-31 15:01 或 15:01' },
  { value: 'date', label: '日期', hint: '如 2026-01-31' },
  { value: 'amount', label: '金额', hint: '如 12.50、¥12.50 或 12.50元' },
  { value: 'phone_number', label: '电话', hint: '数字、+、-，17 位以内' },
  { value: 'car_number', label: '车牌号', hint: '8 个字符以内' },
  { value: 'name', label: '姓名', hint: '10 个汉字或 20 个字母以内' },
  { value: 'phrase', label: '汉字短语', hint: '5 个汉字以内' },
  { value: 'url', label: '链接', hint: 'http(s) 链接' },
]

export const variableTypeLabel = (value) => VARIABLE_TYPES.find((t) => t.value === value)?.label || value

export const SOURCE_LABELS = { wechat: '微信同步', local: '本地创建' }

export const CAMPAIGN_STATUS = {
  draft: { label: '草稿', type: 'info' },
  scheduled: { label: '定时待发', type: 'warning' },
  preparing: { label: '准备中', type: 'primary' },
  running: { label: '发送中', type: 'primary' },
  paused: { label: '已暂停', type: 'warning' },
  completed: { label: '已完成', type: 'success' },
  cancelled: { label: '已取消', type: 'info' },
  failed: { label: '失败', type: 'danger' },
}

/** Campaign states in which the progress keeps changing (the detail page polls). */
export const LIVE_CAMPAIGN_STATES = ['scheduled', 'preparing', 'running', 'paused']

export const DELIVERY_STATUS = {
  pending: { label: '待发送', type: 'info' },
  sending: { label: '发送中', type: 'primary' },
  sent: { label: '已发送', type: 'success' },
  failed_retrying: { label: '失败重试中', type: 'warning' },
  failed_final: { label: '最终失败', type: 'danger' },
  cancelled: { label: '已取消', type: 'info' },
}

// senders: the sender kinds an audience kind can be sent by.
export const AUDIENCE_KINDS = [
  { value: 'fans', label: '全部粉丝', senders: ['official_account'] },
  { value: 'tag', label: '按标签', senders: ['official_account'] },
  { value: 'members', label: '按会员筛选', senders: ['mini_program'] },
  { value: 'list', label: '上传 OpenID 名单', senders: ['official_account', 'mini_program', 'wecom_app'] },
]

/** WeChat's errcodes as an operator reads them (WECHAT-NOTES.md's table). */
export const ERRCODE_MEANINGS = {
  '-1': '微信系统繁忙，稍后重试',
  40001: 'access_token 无效或不是最新',
  40014: 'access_token 不合法',
  42001: 'access_token 已过期',
  41001: '缺少 access_token',
  40013: 'AppID 或 CorpID 不合法',
  40125: 'AppSecret 不正确',
  40164: '调用 IP 不在白名单中',
  48001: '该账号未获得此接口权限',
  45009: '接口调用超过每日额度或频率限制',
  45011: '接口调用过于频繁（每分钟限制）',
  40003: 'OpenID 不合法',
  43004: '用户未关注公众号',
  45015: '超出 48 小时客服消息窗口',
  45047: '客服消息条数超出上限',
  40037: '模板 ID 不合法',
  47003: '模板参数不合法',
  41030: '小程序页面路径不正确',
  40008: '消息类型不合法',
  40007: '媒体文件 ID 不合法',
  43101: '用户拒绝接收或订阅次数已用完',
  45065: '相同 clientmsgid 已发送过，以首次为准',
  93000: '群机器人 Webhook Key 无效',
}

/** "43004 用户未关注公众号" for an errcode, with the server's text when the code is unknown here. */
export function errcodeMeaning(errcode, fallback) {
  if (errcode === null || errcode === undefined) return fallback || ''
  return ERRCODE_MEANINGS[String(errcode)] || fallback || '未知的微信错误'
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return '-'
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s} 秒`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} 分 ${s % 60} 秒`
  return `${Math.floor(m / 60)} 小时 ${m % 60} 分`
}

/** Chinese text for an ApiError from this module's endpoints. */
export function messageErrorText(error, fallback = '操作失败') {
  if (!error) return fallback
  const code = error.code || ''
  if (code === 'upstream_unavailable') return '依赖的服务（公众号服务或微信）暂时不可用，请稍后重试'
  if (code === 'empty_audience') return '受众为空：没有符合条件的接收人'
  if (code === 'campaign_finished') return '活动已结束，无法再执行此操作'
  return error.message || fallback
}

/** One line for a stored audience spec. */
export function describeAudience(audience) {
  if (!audience) return '-'
  if (audience.kind === 'fans') return '全部粉丝'
  if (audience.kind === 'tag') return audience.tag_name ? `标签「${audience.tag_name}」` : `标签 ${audience.tag_id}`
  if (audience.kind === 'list') return `名单 #${audience.list_id}`
  if (audience.kind === 'members') {
    const f = audience.filter || {}
    const parts = [f.status === 'disabled' ? '已停用会员' : '正常会员']
    if (f.phone_bound != null) parts.push(f.phone_bound ? '已绑定手机' : '未绑定手机')
    if (f.joined_after || f.joined_before) parts.push('按注册时间')
    if (f.active_after) parts.push('按最近活跃')
    return `会员：${parts.join('，')}`
  }
  return audience.kind
}

/** "20 per 60 s (sliding window)" (the API's limit description) → "每 60 秒 20 条（滑动窗口）". */
export function limitText(text) {
  const m = /^(\d+) per (second|([\d.]+) s)( \(sliding window\))?$/.exec(text || '')
  if (!m) return text || '-'
  const per = m[2] === 'second' ? '每秒' : `每 ${m[3]} 秒`
  return `${per} ${m[1]} 条${m[4] ? '（滑动窗口）' : ''}`
}
