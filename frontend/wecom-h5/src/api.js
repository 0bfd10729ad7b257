// The members' API of the WeCom service (/api/wecom/h5/...). Organisation reads carry the
// member token; a 401 means the login is over.
import axios from 'axios'
import { createH5Http } from '../../h5-common/http.js'
import { clearSession, currentCorp, currentSession } from './session'

export { H5Error } from '../../h5-common/http.js'

const CODE_MESSAGES = {
  oauth_code: '企业微信登录凭证无效或已使用，请重新登录',
  corp_required: '请从企业微信工作台的应用入口进入本页面',
  not_a_member: '你不是该企业的成员，无法查看通讯录',
}

const http = createH5Http(axios, {
  baseURL: '/api/wecom/h5',
  session: currentSession,
  onExpired: clearSession,
  statusMessages: {
    400: '请求有误，请重新进入页面',
    403: '你不是该企业的成员',
    404: '企业或应用不存在或已停用',
    409: '企业微信拒绝了该操作',
    422: '页面地址不被允许',
    424: '企业微信服务暂时不可用，请稍后再试',
  },
  describe: (code) => CODE_MESSAGES[code],
})

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
  return http.get('/me', { asMember: true }).then((r) => r.data)
}

export function fetchDirectory(params) {
  return http.get('/directory', { params, asMember: true }).then((r) => r.data)
}

export function fetchDepartments() {
  return http.get('/departments', { asMember: true }).then((r) => r.data)
}
