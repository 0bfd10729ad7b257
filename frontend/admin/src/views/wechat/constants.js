// Labels, permission codes and error texts of the 公众号 pages.

export const WECHAT_PERMISSIONS = {
  accountsRead: 'wechat:accounts:read',
  accountsWrite: 'wechat:accounts:write',
  fansRead: 'wechat:fans:read',
  fansWrite: 'wechat:fans:write',
  tagsRead: 'wechat:tags:read',
  tagsWrite: 'wechat:tags:write',
  menusRead: 'wechat:menus:read',
  menusWrite: 'wechat:menus:write',
  repliesRead: 'wechat:replies:read',
  repliesWrite: 'wechat:replies:write',
  qrcodesRead: 'wechat:qrcodes:read',
  qrcodesWrite: 'wechat:qrcodes:write',
  materialsRead: 'wechat:materials:read',
  materialsWrite: 'wechat:materials:write',
  messagesRead: 'wechat:messages:read',
  messagesWrite: 'wechat:messages:write',
}

export const MESSAGE_MODES = [
  { value: 'plain', label: '明文模式' },
  { value: 'compatible', label: '兼容模式' },
  { value: 'safe', label: '安全模式（推荐）' },
]

export const messageModeLabel = (value) => MESSAGE_MODES.find((m) => m.value === value)?.label || value

// WeChat's subscribe_scene values.
export const SUBSCRIBE_SCENES = [
  { value: 'ADD_SCENE_SEARCH', label: '公众号搜索' },
  { value: 'ADD_SCENE_QR_CODE', label: '扫描二维码' },
  { value: 'ADD_SCENE_PROFILE_CARD', label: '名片分享' },
  { value: 'ADD_SCENE_PROFILE_LINK', label: '图文页内名称点击' },
  { value: 'ADD_SCENE_PROFILE_ITEM', label: '图文页右上角菜单' },
  { value: 'ADD_SCENE_ACCOUNT_MIGRATION', label: '公众号迁移' },
  { value: 'ADD_SCENE_PAID', label: '支付后关注' },
  { value: 'ADD_SCENE_WECHAT_ADVERTISEMENT', label: '微信广告' },
  { value: 'ADD_SCENE_REPRINT', label: '他人转载' },
  { value: 'ADD_SCENE_LIVESTREAM', label: '视频号直播' },
  { value: 'ADD_SCENE_CHANNELS', label: '视频号' },
  { value: 'ADD_SCENE_WXA', label: '小程序关注' },
  { value: 'ADD_SCENE_OTHERS', label: '其他' },
]

export const sceneLabel = (value) => (value ? SUBSCRIBE_SCENES.find((s) => s.value === value)?.label || value : '-')

export const SEX_LABELS = { 0: '未知', 1: '男', 2: '女' }

export const MSG_TYPE_LABELS = {
  text: '文本',
  image: '图片',
  voice: '语音',
  video: '视频',
  shortvideo: '小视频',
  location: '位置',
  link: '链接',
  event: '事件',
  news: '图文',
  unknown: '未知',
}

export const EVENT_LABELS = {
  subscribe: '关注',
  unsubscribe: '取消关注',
  SCAN: '扫码',
  CLICK: '点击菜单',
  VIEW: '打开菜单链接',
  LOCATION: '上报位置',
  scancode_push: '扫码推事件',
  scancode_waitmsg: '扫码等待消息',
  location_select: '选择位置',
  pic_sysphoto: '拍照',
  pic_photo_or_album: '拍照或相册',
  pic_weixin: '微信相册',
  TEMPLATESENDJOBFINISH: '模板消息送达',
  MASSSENDJOBFINISH: '群发结果',
}

export const REPLY_TYPES = [
  { value: 'text', label: '文本' },
  { value: 'image', label: '图片' },
  { value: 'news', label: '图文' },
  { value: 'transfer_customer_service', label: '转人工客服' },
]

export const replyTypeLabel = (value) => REPLY_TYPES.find((t) => t.value === value)?.label || value || '-'

export const TRIGGERS = [
  { value: 'subscribe', label: '关注时回复' },
  { value: 'keyword', label: '关键词回复' },
  { value: 'default', label: '默认回复' },
]

export const triggerLabel = (value) => TRIGGERS.find((t) => t.value === value)?.label || value

export const MATCH_TYPES = [
  { value: 'exact', label: '完全匹配' },
  { value: 'contains', label: '包含' },
  { value: 'regex', label: '正则表达式' },
]

export const matchTypeLabel = (value) => MATCH_TYPES.find((t) => t.value === value)?.label || value || '-'

export const MATERIAL_TYPES = [
  { value: 'image', label: '图片', accept: 'image/jpeg,image/png,image/gif,image/bmp', limit: 10 << 20, hint: '10MB 以内，bmp/png/jpeg/jpg/gif' },
  { value: 'voice', label: '语音', accept: 'audio/*,.amr,.mp3,.wma,.wav', limit: 2 << 20, hint: '2MB 以内，播放长度不超过 60 秒，mp3/wma/wav/amr' },
  { value: 'video', label: '视频', accept: 'video/mp4', limit: 10 << 20, hint: '10MB 以内，mp4 格式，需填写标题' },
  { value: 'thumb', label: '缩略图', accept: 'image/jpeg', limit: 64 << 10, hint: '64KB 以内，jpg 格式' },
]

export const materialTypeLabel = (value) => MATERIAL_TYPES.find((t) => t.value === value)?.label || value

export const SYNC_STATUS = {
  pending: { label: '排队中', type: 'info' },
  running: { label: '同步中', type: 'primary' },
  succeeded: { label: '已完成', type: 'success' },
  failed: { label: '失败', type: 'danger' },
}

/** One line describing a logged message or event. */
export function describeMessage(m) {
  if (!m) return ''
  if (m.msg_type === 'event') {
    const label = EVENT_LABELS[m.event] || m.event || '事件'
    return m.event_key ? `${label}（${m.event_key}）` : label
  }
  const kind = MSG_TYPE_LABELS[m.msg_type] || m.msg_type
  if (m.content) return m.msg_type === 'text' ? m.content : `[${kind}] ${m.content}`
  return `[${kind}]`
}

export function formatBytes(size) {
  if (size == null) return '-'
  if (size < 1024) return `${size} B`
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`
  return `${(size / 1024 / 1024).toFixed(1)} MB`
}

export const CS_WINDOW_TEXT =
  '客服消息只能在粉丝最近一次与公众号互动（发消息、点击菜单、扫码、关注）后的 48 小时内发送（微信错误码 45015）。' +
  '请改用模板消息，或等待粉丝再次互动。'

/** Chinese text for an ApiError from this module's endpoints. */
export function wechatErrorText(error, fallback = '操作失败') {
  if (!error) return fallback
  const code = error.code || ''
  if (code === 'wechat_45015') return `超出 48 小时客服消息窗口：${CS_WINDOW_TEXT}`
  if (code === 'wechat_43019') return '该粉丝已被公众号拉黑，消息无法送达；请先取消拉黑'
  if (code === 'wechat_unavailable') return '微信接口暂时不可用，请稍后重试'
  if (code === 'sync_in_progress') return '已有粉丝同步任务在进行中，请等待其完成'
  if (code === 'queue_unavailable') return '任务队列暂不可用，同步未能开始，请稍后重试'
  if (code === 'qrcode_expired') return '该临时二维码已过期'
  const wechat = /^wechat_(-?\d+)$/.exec(code)
  if (wechat) return `微信拒绝了该操作（错误码 ${wechat[1]}）：${error.serverMessage || error.message}`
  return error.message || fallback
}
