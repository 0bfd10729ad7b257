// The one axios instance every API module uses.
//
// - attaches the access token;
// - on 401 tries one refresh with the refresh token; requests that fail with
//   401 while a refresh is running wait for it and are retried once;
// - when refreshing fails the session is over: tokens are dropped and the
//   registered handler sends the user to /login with a message;
// - every failure is turned into an ApiError and, unless the request asked to
//   stay silent, shown as a Chinese toast (403, 429 and network errors get a
//   fixed text; otherwise a Chinese headline for the status, then the server's
//   `message` when it is not Chinese already).
import axios from 'axios'
import { ElMessage } from 'element-plus'
import { useAuthStore } from '@/stores/auth'

export const MSG_FORBIDDEN = '没有权限执行此操作'
export const MSG_TOO_MANY = '请求过于频繁，请稍后再试'
export const MSG_SESSION_EXPIRED = '登录已过期，请重新登录'

const FALLBACK_MESSAGES = {
  400: '请求参数有误',
  401: '未登录或登录已过期',
  403: MSG_FORBIDDEN,
  404: '请求的资源不存在',
  409: '操作冲突，请刷新后重试',
  413: '提交的内容过大',
  422: '提交的数据校验未通过',
  424: '依赖的服务暂时不可用，请稍后重试',
  429: MSG_TOO_MANY,
  500: '服务器内部错误，请稍后再试',
  502: '服务暂不可用，请稍后再试',
  503: '服务暂不可用，请稍后再试',
  504: '服务响应超时，请稍后再试',
}

/** True when a server text is written in Chinese already. */
export const hasChinese = (text) => typeof text === 'string' && /[\u4e00-\u9fff]/.test(text)

/** A failed API call, normalised from the server's error envelope. */
export class ApiError extends Error {
  constructor({ status = 0, code = 'network_error', message, serverMessage = null, requestId = null, errors = null, retryAfter = null }) {
    super(message)
    /** The server's own `message`, before 403/429 texts replaced it. */
    this.serverMessage = serverMessage
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.requestId = requestId
    /** Field errors: `{ field: [messages] }` (400/422), or null. */
    this.errors = errors
    /** Seconds from the Retry-After header (429), or null. */
    this.retryAfter = retryAfter
  }
}

function parseRetryAfter(value) {
  if (value == null || value === '') return null
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds))
  const date = Date.parse(value) // Retry-After may also be an HTTP date
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000))
}

/** Text for a 429, with the wait time when the server sent one. */
export function tooManyRequestsMessage(retryAfter) {
  return retryAfter ? `${MSG_TOO_MANY}（${retryAfter} 秒后可重试）` : MSG_TOO_MANY
}

export function toApiError(error) {
  if (error instanceof ApiError) return error
  const response = error?.response
  if (!response) {
    const timedOut = error?.code === 'ECONNABORTED' || error?.code === 'ETIMEDOUT'
    return new ApiError({
      code: timedOut ? 'timeout' : 'network_error',
      message: timedOut ? '请求超时，请稍后再试' : '网络异常，请检查网络连接后重试',
    })
  }
  const { status, data, headers } = response
  const body = data && typeof data === 'object' ? data : {}
  const retryAfter = parseRetryAfter(headers?.['retry-after'])
  const serverText = typeof body.message === 'string' && body.message ? body.message : ''
  const headline = FALLBACK_MESSAGES[status] || `请求失败（${status}）`
  // The server explains in English unless it says otherwise: a Chinese headline, its reason after.
  let message = !serverText ? headline : hasChinese(serverText) ? serverText : `${headline}：${serverText}`
  if (status === 403) message = MSG_FORBIDDEN
  if (status === 429) message = tooManyRequestsMessage(retryAfter)
  return new ApiError({
    status,
    code: body.code || `http_${status}`,
    message,
    serverMessage: typeof body.message === 'string' ? body.message : null,
    requestId: body.request_id || headers?.['x-request-id'] || null,
    errors: body.errors && typeof body.errors === 'object' ? body.errors : null,
    retryAfter,
  })
}

const http = axios.create({
  baseURL: '/',
  timeout: 30000,
  headers: { Accept: 'application/json' },
})

http.interceptors.request.use((config) => {
  const auth = useAuthStore()
  // A request may bring its own Authorization (refresh uses the refresh token).
  if (!config.skipAuth && auth.accessToken && !config.headers.has('Authorization')) {
    config.headers.set('Authorization', `Bearer ${auth.accessToken}`)
  }
  return config
})

// --- refresh handling -------------------------------------------------------

let refreshPromise = null
let onSessionExpired = () => {}

/** Called once when the session cannot be refreshed (router redirect lives in main.js). */
export function setSessionExpiredHandler(handler) {
  onSessionExpired = handler
}

function refreshOnce() {
  if (!refreshPromise) {
    const auth = useAuthStore()
    refreshPromise = auth.refreshAccessToken().finally(() => {
      refreshPromise = null
    })
  }
  return refreshPromise
}

function expireSession() {
  const auth = useAuthStore()
  const hadSession = auth.isLoggedIn
  auth.clearSession()
  if (hadSession) onSessionExpired(MSG_SESSION_EXPIRED)
}

http.interceptors.response.use(
  (response) => response,
  async (error) => {
    if (axios.isCancel(error)) return Promise.reject(error)
    const config = error?.config || {}
    const status = error?.response?.status
    const usesSession = !config.skipAuth && !config.skipRefresh

    if (status === 401 && usesSession && !config._retried) {
      const auth = useAuthStore()
      if (!auth.refreshToken) {
        expireSession()
        return Promise.reject(toApiError(error))
      }
      // The token this request was sent with; if a refresh finished in the
      // meantime, the request is simply retried with the new token.
      const sentWith = String(config.headers?.get?.('Authorization') || '').replace(/^Bearer\s+/i, '')
      try {
        if (!auth.accessToken || sentWith === auth.accessToken) await refreshOnce()
      } catch (refreshError) {
        const refreshStatus = refreshError?.status
        if ([400, 401, 403, 422].includes(refreshStatus)) {
          // The refresh token itself was refused: the session is over.
          expireSession()
          return Promise.reject(toApiError(error))
        }
        // Network trouble or a server error while refreshing: keep the
        // session, report the problem, let the user try again.
        if (!config.silent) notify(refreshError)
        return Promise.reject(refreshError)
      }
      config._retried = true
      config.headers.set('Authorization', `Bearer ${auth.accessToken}`)
      return http(config)
    }

    const apiError = toApiError(error)
    if (status === 401 && usesSession) {
      // Refused even with a fresh token: the session is gone.
      expireSession()
    } else if (!config.silent) {
      notify(apiError)
    }
    return Promise.reject(apiError)
  },
)

function notify(apiError) {
  ElMessage({ type: 'error', message: apiError.message, grouping: true, showClose: true })
}

export default http
