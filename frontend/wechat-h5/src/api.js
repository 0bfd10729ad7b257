// The fans' API of the Official Account service (/api/wechat/h5/...). Fan-data
// reads carry the fan token; a 401 means the login is over.
import axios from 'axios'
import { clearSession, currentAppid, currentSession } from './session'

const http = axios.create({ baseURL: '/api/wechat/h5', timeout: 15000, headers: { Accept: 'application/json' } })

http.interceptors.request.use((config) => {
  const session = currentSession()
  if (config.withFanToken && session) config.headers.set('Authorization', `Bearer ${session.token}`)
  return config
})

const MESSAGES = {
  400: '请求有误，请重新进入页面',
  401: '登录已过期，请重新登录',
  404: '公众号不存在或已停用',
  409: '微信拒绝了该操作',
  422: '页面地址不被允许',
  424: '微信服务暂时不可用，请稍后再试',
  429: '访问过于频繁，请稍后再试',
}

/** A failed call: `status`, the server's `code`, and a Chinese `message` for the fan. */
export class H5Error extends Error {
  constructor(error) {
    const response = error?.response
    const status = response?.status || 0
    const code = response?.data?.code || (status ? `http_${status}` : 'network_error')
    let message = MESSAGES[status] || (status ? `服务异常（${status}），请稍后再试` : '网络异常，请检查网络后重试')
    if (code === 'oauth_code') message = '微信登录凭证无效或已使用，请重新登录'
    if (code === 'appid_required') message = '请从公众号菜单或链接进入本页面'
    super(message)
    this.name = 'H5Error'
    this.status = status
    this.code = code
  }
}

http.interceptors.response.use(
  (response) => response,
  (error) => {
    const wrapped = new H5Error(error)
    if (wrapped.status === 401 && error?.config?.withFanToken) clearSession()
    return Promise.reject(wrapped)
  },
)

const withAppid = (params = {}) => {
  const appid = currentAppid()
  return appid ? { ...params, appid } : params
}

export function fetchAccount() {
  return http.get('/account', { params: withAppid() }).then((r) => r.data)
}

export function fetchAuthorizeUrl({ scope, redirectUri, state }) {
  return http
    .get('/oauth/authorize-url', { params: withAppid({ scope, redirect_uri: redirectUri, state }) })
    .then((r) => r.data)
}

export function login(code) {
  return http.post('/oauth/login', withAppid({ code })).then((r) => r.data)
}

export function fetchMe() {
  return http.get('/me', { withFanToken: true }).then((r) => r.data)
}

export function fetchJssdkConfig(url) {
  return http.get('/jssdk-config', { params: withAppid({ url }) }).then((r) => r.data)
}
