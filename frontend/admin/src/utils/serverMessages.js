// The API's field errors in the console's language: marshmallow's standard validation
// messages, and WeDraw's own frequent ones. A message not listed is shown as the server wrote it.

const FIELD_MESSAGES = [
  [/^(Required\.?|is required|Missing data for required field\.)$/, '必填'],
  [/^Field may not be null\.$/, '不能为空'],
  [/^Invalid value\.$/, '取值无效'],
  [/^Not a valid (utf-8 )?string\.$/, '必须是文本'],
  [/^Not a valid integer\.$/, '必须是整数'],
  [/^Not a valid number\.$/, '必须是数字'],
  [/^Number too large\.$/, '数值过大'],
  [/^Not a valid boolean\.$/, '必须是“是”或“否”'],
  [/^Not a valid ((naive|aware) )?(datetime|date|time)\.$/, '日期时间格式不正确'],
  [/^Not a valid email address\.$/, '邮箱格式不正确'],
  [/^Not a valid URL\.$/, '网址格式不正确'],
  [/^Not a valid list\.$/, '必须是列表'],
  [/^Not a valid mapping type\.$/, '格式不正确'],
  [/^Invalid (input )?type\.$/, '类型不正确'],
  [/^Unknown field\.?$/, '未知字段'],
  [/^String does not match expected pattern\.$/, '格式不正确'],
  [/^Length must be between (\d+) and (\d+)\.$/, (m) => `长度须在 ${m[1]} 到 ${m[2]} 之间`],
  [/^Length must be (\d+)\.$/, (m) => `长度须为 ${m[1]}`],
  [/^Longer than maximum length (\d+)\.$/, (m) => `长度不能超过 ${m[1]}`],
  [/^Shorter than minimum length (\d+)\.$/, (m) => `长度不能少于 ${m[1]}`],
  [/^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$/, (m) => `须在 ${m[1]} 到 ${m[2]} 之间`],
  [/^Must be greater than or equal to (\S+)\.$/, (m) => `不能小于 ${m[1]}`],
  [/^Must be less than or equal to (\S+)\.$/, (m) => `不能大于 ${m[1]}`],
  [/^Must be greater than (\S+)\.$/, (m) => `须大于 ${m[1]}`],
  [/^Must be less than (\S+)\.$/, (m) => `须小于 ${m[1]}`],
  [/^Must be one of: (.+)\.$/, (m) => `须为以下之一：${m[1]}`],
  // The message center's.
  [/^Unknown template\.?$/, '模板不存在'],
  [/^Must be in the future\.?$/, '时间必须晚于现在'],
  [/^No recipients\.?$/, '受众为空：没有符合条件的接收人'],
  [/^is not a variable of this template$/, '不是该模板的变量'],
  [/^is too long \((\d+) characters, at most (\d+)\)$/, (m) => `过长（${m[1]} 个字符，最多 ${m[2]} 个）`],
]

export function translateFieldMessage(text) {
  const value = String(text)
  for (const [pattern, replacement] of FIELD_MESSAGES) {
    const match = pattern.exec(value)
    if (match) return typeof replacement === 'function' ? replacement(match) : replacement
  }
  return value
}
