// The fans' API of the Official Account service (/api/wechat/h5/...). Fan-data
// reads carry the fan token; a 401 means the login is over.
import axios from 'axios'
import { createH5Http } from '../../h5-common/http.js'
import { clearSession, currentAppid, currentSession } from './session'

export { H5Error } from '../../h5-common/http.js'

const CODE_MESSAGES = {
  oauth_code: '微信登录凭证无效或已使用，请重新登录',
  appid_required: '请从公众号菜单或链接进入本页面',
}

const http = createH5Http(axios, {
  baseURL: '/api/wechat/h5',
  session: currentSession,
  onExpired: clearSession,
  statusMessages: {
    400: '请求有误，请重新进入页面',
    404: '公众号不存在或已停用',
    409: '微信拒绝了该操作',
    422: '页面地址不被允许',
  },
  describe: (code) => CODE_MESSAGES[code],
})

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
  return http.get('/me', { asMember: true }).then((r) => r.data)
}

export function fetchJssdkConfig(url) {
  return http.get('/jssdk-config', { params: withAppid({ url }) }).then((r) => r.data)
}
