// The members' API of the WeCom service (/api/wecom/h5/...). Organisation reads carry the
// member token; a 401 means the login is over.
import axios from 'axios'
import { clearSession, currentCorp, currentSession } from './session'

const http = axios.create({ baseURL: '/api/wecom/h5', timeout: 15000, headers: { Accept: 'application/json' } })

http.interceptors.request.use((config) => {
  const session = currentSession()
  if (config.withMemberToken && session) config.headers.set('Authorization', `Bearer ${session.token}`)
  return config
})

const MESSAGES = {
  400: '请求有误，请重新进入页面',
  401: '登录已过期，请重新登录',
  403: '你不是该企业的成员',
  404: '企业或应用不存在或已停用',
  409: '企业微信拒绝了该操作',
  422: '页面地址不被允许',
  424: '企业微信服务暂时不可用，请稍后再试',
  429: '访问过于频繁，请稍后再试',
}

/** A failed call: `status`, the server's `code`, and a Chinese `message` for the member. */
export class H5Error extends Error {
  constructor(error) {
    const response = error?.response
    const status = response?.status || 0
    const code = response?.data?.code || (status ? `http_${status}` : 'network_error')
    let message = MESSAGES[status] || (status ? `服务异常（${status}），请稍后再试` : '网络异常，请检查网络后重试')
    if (code === 'oauth_code') message = '企业微信登录凭证无效或已使用，请重新登录'
    if (code === 'corp_required') message = '请从企业微信工作台的应用入口进入本页面'
    if (code === 'not_a_member') message = '你不是该企业的成员，无法查看通讯录'
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
    if (wrapped.status === 401 && error?.config?.withMemberToken) clearSession()
    return Promise.reject(wrapped)
  },
)

const withCorp = (params = {}) => {
  const corp = currentCorp() || {}
  const extra = {}
  if (corp.corpId) extra.corp_id = corp.corpId
  if (corp.agentId) extra.agent_id = corp.agentId
  return { ...params, ...extra }
}

export function fetchCorp() {
  return http.get('/corp', { params: withCorp() }).then((r) => r.data)
}

export function fetchAuthorizeUrl({ redirectUri, state }) {
  return http.get('/oauth/authorize-url', { params: withCorp({ redirect_uri: redirectUri, state }) }).then((r) => r.data)
}

export function login(code) {
  return http.post('/oauth/login', withCorp({ code })).then((r) => r.data)
}

export function fetchMe() {
  return http.get('/me', { withMemberToken: true }).then((r) => r.data)
}

export function fetchDirectory(params) {
  return http.get('/directory', { params, withMemberToken: true }).then((r) => r.data)
}

export function fetchDepartments() {
  return http.get('/departments', { withMemberToken: true }).then((r) => r.data)
}
