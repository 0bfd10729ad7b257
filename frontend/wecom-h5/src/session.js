// The member's session in this browser: the member token from WeCom's web login, and
// which corp (and app) the pages are for (`?corp_id=` and `?agent_id=` on the entry URL).
import { oauthLogins, remembered, tokenSession } from '../../h5-common/storage.js'

const session = tokenSession('wedraw.h5.wecom.session')
const corp = remembered('wedraw.h5.wecom.corp')
const logins = oauthLogins('wedraw.h5.wecom.oauth')

/** The stored session if its token is still valid: { token, expiresAt, corpId, userid }. */
export function currentSession() {
  const wanted = currentCorp()
  return session.current((s) => !wanted?.corpId || s.corpId === wanted.corpId)
}

export function saveSession({ token, expires_in: expiresIn, corp_id: corpId, userid }) {
  session.save({ token, corpId, userid }, expiresIn)
  rememberCorp({ ...(currentCorp() || {}), corpId })
}

export const clearSession = session.clear

/** { corpId, agentId } the entry link named (either may be absent: the API then uses the only enabled corp). */
export const currentCorp = corp.get

export function rememberCorp(value) {
  if (value?.corpId || value?.agentId) corp.set(value)
}

/** A login attempt: the `state` WeCom must send back (login CSRF) and where to go after. */
export const beginLogin = (next) => logins.begin({ next })

/** The pending login whose state matches, consumed (a state is good for one callback). */
export const finishLogin = logins.finish
