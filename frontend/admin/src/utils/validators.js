// Client-side form rules; the server validates again and its field errors
// are shown next to the inputs.

export const PASSWORD_MIN_LENGTH = 8
export const PASSWORD_MAX_LENGTH = 128

export function passwordRules(required = true) {
  return [
    ...(required ? [{ required: true, message: '请输入密码', trigger: 'blur' }] : []),
    {
      min: PASSWORD_MIN_LENGTH,
      max: PASSWORD_MAX_LENGTH,
      message: `密码长度为 ${PASSWORD_MIN_LENGTH}-${PASSWORD_MAX_LENGTH} 个字符`,
      trigger: 'blur',
    },
  ]
}

export const USERNAME_PATTERN = /^[A-Za-z0-9_.@-]+$/
export const PHONE_PATTERN = /^1[3-9]\d{9}$/

export const usernameRules = [
  { required: true, message: '请输入用户名', trigger: 'blur' },
  { min: 3, max: 64, message: '用户名长度为 3-64 个字符', trigger: 'blur' },
  { pattern: USERNAME_PATTERN, message: '用户名只能包含字母、数字和 _ . @ -', trigger: 'blur' },
]

export const phoneRules = [{ pattern: PHONE_PATTERN, message: '请输入正确的 11 位手机号', trigger: 'blur' }]

export const emailRules = [{ type: 'email', message: '请输入正确的邮箱地址', trigger: 'blur' }]

/** True for a value the server masked (e.g. 138****1234), which must not be sent back. */
export function isMasked(value) {
  return typeof value === 'string' && value.includes('*')
}
