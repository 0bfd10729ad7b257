// The fan's session in this browser: the fan token from WeChat's web login, and
// which Official Account the pages are for (`?appid=` on the entry URL).
import { oauthLogins, remembered, tokenSession } from '../../h5-common/storage.js'

const session = tokenSession('wedraw.h5.wechat.session')
const appid = remembered('wedraw.h5.wechat.appid')
const logins = oauthLogins('wedraw.h5.wechat.oauth')

/** The stored session if its token is still valid: { token, expiresAt, appid, openid, scope }. */
export function currentSession() {
  const wanted = currentAppid()
  return session.current((s) => !wanted || s.appid === wanted)
}

export function saveSession({ token, expires_in: expiresIn, appid: forAppid, openid, scope }) {
  session.save({ token, appid: forAppid, openid, scope }, expiresIn)
  rememberAppid(forAppid)
}

export const clearSession = session.clear

export const currentAppid = appid.get

export function rememberAppid(value) {
  if (value) appid.set(value)
}

/** A login attempt: the `state` WeChat must send back (login CSRF), the scope and where to go after. */
export const beginLogin = (scope, next) => logins.begin({ scope, next })

/** The pending login whose state matches, consumed (a state is good for one callback). */
export const finishLogin = logins.finish
