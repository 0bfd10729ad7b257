// The custom menu editor's model: buttons in the API's shape plus a client id per
// button, byte lengths as WeChat counts them, and the server's 422 rules mapped to
// the button they name ("button[1].sub_button[0].key" → top 1, sub 0, field key).

export const MAX_BUTTONS = 3
export const MAX_SUB_BUTTONS = 5
export const TOP_NAME_BYTES = 16
export const SUB_NAME_BYTES = 60

export const BUTTON_TYPES = [
  { value: 'click', label: '点击推事件', fields: ['key'] },
  { value: 'view', label: '跳转网页', fields: ['url'] },
  { value: 'miniprogram', label: '跳转小程序', fields: ['appid', 'pagepath', 'url'] },
  { value: 'scancode_push', label: '扫码推事件', fields: ['key'] },
  { value: 'scancode_waitmsg', label: '扫码推事件且弹出提示', fields: ['key'] },
  { value: 'pic_sysphoto', label: '系统拍照发图', fields: ['key'] },
  { value: 'pic_photo_or_album', label: '拍照或者相册发图', fields: ['key'] },
  { value: 'pic_weixin', label: '微信相册发图', fields: ['key'] },
  { value: 'location_select', label: '发送位置', fields: ['key'] },
  { value: 'media_id', label: '下发素材消息', fields: ['media_id'] },
  { value: 'article_id', label: '下发已发布图文', fields: ['article_id'] },
  { value: 'article_view_limited', label: '跳转已发布图文', fields: ['article_id'] },
  { value: 'view_limited', label: '跳转图文消息 URL', fields: ['media_id'] },
]

export const FIELD_LABELS = {
  name: '名称',
  type: '类型',
  key: '事件 KEY',
  url: '网页链接',
  appid: '小程序 AppID',
  pagepath: '小程序页面路径',
  media_id: '素材 media_id',
  article_id: '图文 article_id',
  sub_button: '子菜单',
}

const LEAF_FIELDS = ['name', 'type', 'key', 'url', 'appid', 'pagepath', 'media_id', 'article_id']

export const typeLabel = (type) => BUTTON_TYPES.find((t) => t.value === type)?.label || type || '未设置'
export const typeFields = (type) => BUTTON_TYPES.find((t) => t.value === type)?.fields || []

const encoder = new TextEncoder()
export const byteLength = (value) => encoder.encode(value || '').length

let uid = 0
const nextUid = () => `b${++uid}`

function leaf(button) {
  const out = { _uid: nextUid() }
  for (const field of LEAF_FIELDS) out[field] = button?.[field] ?? ''
  return out
}

/** API buttons → editor buttons (each with a `_uid` and every field present). */
export function toEditor(buttons) {
  return (buttons || []).map((button) => {
    const node = leaf(button)
    node.sub_button = (button.sub_button || []).map(leaf)
    if (node.sub_button.length) node.type = ''
    return node
  })
}

function clean(button) {
  const out = {}
  for (const field of LEAF_FIELDS) {
    const value = typeof button[field] === 'string' ? button[field].trim() : button[field]
    if (value !== '' && value !== null && value !== undefined) out[field] = value
  }
  // Only the fields the type uses are sent (a leftover url on a click button is not).
  const keep = new Set(['name', 'type', ...typeFields(out.type)])
  for (const field of Object.keys(out)) if (!keep.has(field)) delete out[field]
  return out
}

/** Editor buttons → the API's `buttons`. */
export function toApi(buttons) {
  return buttons.map((button) => {
    if (button.sub_button?.length) {
      return { name: (button.name || '').trim(), sub_button: button.sub_button.map(clean) }
    }
    return clean(button)
  })
}

export function newButton(isSub) {
  return { ...leaf({ name: isSub ? '子菜单名称' : '菜单名称', type: 'click' }), sub_button: isSub ? undefined : [] }
}

// ---------------------------------------------------------------- server errors

/** Path of a button: "button[1]" or "button[1].sub_button[0]". */
export function buttonPath(i, j = null) {
  return j === null || j === undefined ? `button[${i}]` : `button[${i}].sub_button[${j}]`
}

function flattenNested(value, prefix, out) {
  if (Array.isArray(value)) {
    out.push([prefix, value.map(String)])
    return
  }
  if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      const isIndex = /^\d+$/.test(key)
      let path
      if (prefix === '' && key === 'buttons') path = 'button'
      else if (isIndex) path = `${prefix}[${key}]`
      else path = prefix ? `${prefix}.${key}` : key
      flattenNested(inner, path, out)
    }
    return
  }
  if (value !== undefined && value !== null) out.push([prefix, [String(value)]])
}

/**
 * The server's 422 `errors` as [{path, field, messages}]: the menu rules come keyed
 * "button[0].sub_button[1].name"; schema errors come nested {"buttons": {"0": {...}}}.
 */
export function parseMenuErrors(errors) {
  const flat = []
  for (const [key, value] of Object.entries(errors || {})) {
    if (key === 'buttons' || key === 'json') flattenNested(key === 'json' ? value : { buttons: value }, '', flat)
    else if (Array.isArray(value)) flat.push([key, value.map(String)])
    else flattenNested(value, key, flat)
  }
  return flat.map(([path, messages]) => {
    const match = /^(button\[\d+\](?:\.sub_button\[\d+\])?)(?:\.(\w+))?$/.exec(path)
    return match
      ? { path: match[1], field: match[2] || null, messages: messages.map(translateRule) }
      : { path, field: null, messages: messages.map(translateRule) }
  })
}

const RULES = [
  [/^Every button needs a name\.$/, () => '请填写菜单名称'],
  [
    /^Top-level button names are at most (\d+) bytes \(UTF-8\); this one has (\d+)\.$/,
    (m) => `一级菜单名称最多 ${m[1]} 字节（一个汉字占 3 字节），当前 ${m[2]} 字节`,
  ],
  [
    /^Sub-button names are at most (\d+) bytes \(UTF-8\); this one has (\d+)\.$/,
    (m) => `子菜单名称最多 ${m[1]} 字节（一个汉字占 3 字节），当前 ${m[2]} 字节`,
  ],
  [/^Button type must be one of/, () => '请选择菜单类型'],
  [/^An? (\w+) button needs a key\.$/, (m) => `「${typeLabel(m[1])}」类型需要填写事件 KEY`],
  [/^Button keys are at most (\d+) bytes\.$/, (m) => `事件 KEY 最多 ${m[1]} 字节`],
  [/^A view button needs a url\.?$/, () => '「跳转网页」类型需要填写网页链接'],
  [/^A miniprogram button needs a url/, () => '「跳转小程序」类型需要填写备用网页链接（不支持小程序的旧版微信打开）'],
  [/^Button URLs are at most (\d+) bytes\.$/, (m) => `网页链接最多 ${m[1]} 字节`],
  [/^Button URLs start with http:\/\/ or https:\/\/\.$/, () => '网页链接必须以 http:// 或 https:// 开头'],
  [/^A miniprogram button needs (appid|pagepath)\.$/, (m) => `「跳转小程序」类型需要填写${FIELD_LABELS[m[1]]}`],
  [/^An? (\w+) button needs a media_id\.$/, (m) => `「${typeLabel(m[1])}」类型需要填写素材 media_id`],
  [/^An? (\w+) button needs an article_id\.$/, (m) => `「${typeLabel(m[1])}」类型需要填写图文 article_id`],
  [
    /^A menu has 1 to (\d+) top-level buttons; this one has (\d+)\.$/,
    (m) => `菜单需要 1 到 ${m[1]} 个一级菜单，当前 ${m[2]} 个`,
  ],
  [/^A button has at most (\d+) sub-buttons; this one has (\d+)\.$/, (m) => `每个一级菜单最多 ${m[1]} 个子菜单，当前 ${m[2]} 个`],
  [/^Longer than maximum length (\d+)\.$/, (m) => `长度不能超过 ${m[1]}`],
  [/^Must be one of/, () => '取值无效'],
  [/^Missing data for required field\.$/, () => '必填项'],
]

/** The server's rule in Chinese (its own text when the rule is not one we know). */
export function translateRule(message) {
  for (const [pattern, render] of RULES) {
    const match = pattern.exec(message)
    if (match) return render(match)
  }
  return message
}

/** A readable name of the button a path names, e.g. "「活动」>「签到」". */
export function describePath(buttons, path) {
  const match = /^button\[(\d+)\](?:\.sub_button\[(\d+)\])?$/.exec(path)
  if (!match) return '整个菜单'
  const top = buttons[Number(match[1])]
  if (!top) return `第 ${Number(match[1]) + 1} 个一级菜单`
  const topName = `「${top.name || `第 ${Number(match[1]) + 1} 个一级菜单`}」`
  if (match[2] === undefined) return topName
  const sub = top.sub_button?.[Number(match[2])]
  return `${topName} > 「${sub?.name || `第 ${Number(match[2]) + 1} 个子菜单`}」`
}
