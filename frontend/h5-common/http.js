// The API client of an H5 app: member calls carry the member token, a 401 on one ends the login,
// and every failure becomes an H5Error whose message a member can read (Chinese).

const STATUS_MESSAGES = {
  400: '请求有误，请重试',
  401: '登录已过期，请重新登录',
  403: '没有权限执行此操作',
  404: '内容不存在或已停用',
  409: '操作未能完成，请刷新后重试',
  422: '填写的信息有误，请检查后重试',
  424: '微信服务暂时不可用，请稍后再试',
  429: '访问过于频繁，请稍后再试',
}

/** A failed call: `status`, the server's `code`, field `errors`, and a Chinese `message`. */
export class H5Error extends Error {
  constructor(message, { status = 0, code = 'network_error', errors = null } = {}) {
    super(message)
    this.name = 'H5Error'
    this.status = status
    this.code = code
    this.errors = errors
  }
}

/**
 * @param {object} axios            the app's axios
 * @param {object} options
 * @param {string} options.baseURL
 * @param {Function} options.session      () => the current session ({ token }) or null
 * @param {Function} options.onExpired    called when a member call gets 401
 * @param {object} [options.statusMessages]  per-status messages over the defaults
 * @param {Function} [options.describe]   (code, body, status) => a message for this code, or undefined
 * A request opts into the member token with `{ asMember: true }` in its config.
 */
export function createH5Http(axios, { baseURL, session, onExpired, statusMessages = {}, describe = () => undefined }) {
  const http = axios.create({ baseURL, timeout: 15000, headers: { Accept: 'application/json' } })
  const messages = { ...STATUS_MESSAGES, ...statusMessages }

  http.interceptors.request.use((config) => {
    const current = session()
    if (config.asMember && current) config.headers.set('Authorization', `Bearer ${current.token}`)
    return config
  })

  http.interceptors.response.use(
    (response) => response,
    (error) => {
      const response = error?.response
      const status = response?.status || 0
      const body = response?.data && typeof response.data === 'object' ? response.data : {}
      const code = body.code || (status ? `http_${status}` : 'network_error')
      const message =
        describe(code, body, status) ||
        messages[status] ||
        (status ? `服务异常（${status}），请稍后再试` : '网络异常，请检查网络后重试')
      if (status === 401 && error?.config?.asMember) onExpired()
      return Promise.reject(new H5Error(message, { status, code, errors: body.errors || null }))
    },
  )
  return http
}
