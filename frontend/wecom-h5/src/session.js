// The member's session in this browser: the member token from WeCom's web login, and
// which corp (and app) the pages are for (`?corp_id=` and `?agent_id=` on the entry URL).

const SESSION_KEY = 'wedraw.h5.wecom.session'
const CORP_KEY = 'wedraw.h5.wecom.corp'
const PENDING_KEY = 'wedraw.h5.wecom.oauth'
const EXPIRY_MARGIN_MS = 30 * 1000

function read(storage, key) {
  try {
    const raw = storage.getItem(key)
    return raw ? JSON.parse(raw) : null
  } catch {
    return null
  }
}

function write(storage, key, value) {
  try {
    if (value == null) storage.removeItem(key)
    else storage.setItem(key, JSON.stringify(value))
  } catch {
    // Storage unavailable (private mode): the login lasts for this page only.
  }
}

/** The stored session if its token is still valid: { token, expiresAt, corpId, userid }. */
export function currentSession() {
  const session = read(localStorage, SESSION_KEY)
  if (!session?.token || !session.expiresAt || session.expiresAt - EXPIRY_MARGIN_MS < Date.now()) return null
  const corp = currentCorp()
  if (corp?.corpId && session.corpId !== corp.corpId) return null
  return session
}

export function saveSession({ token, expires_in: expiresIn, corp_id: corpId, userid }) {
  write(localStorage, SESSION_KEY, { token, expiresAt: Date.now() + Number(expiresIn) * 1000, corpId, userid })
  rememberCorp({ ...(currentCorp() || {}), corpId })
}

export function clearSession() {
  write(localStorage, SESSION_KEY, null)
}

/** { corpId, agentId } the entry link named (either may be absent: the API then uses the only enabled corp). */
export function currentCorp() {
  return read(sessionStorage, CORP_KEY) || read(localStorage, CORP_KEY) || null
}

export function rememberCorp(corp) {
  if (!corp?.corpId && !corp?.agentId) return
  write(sessionStorage, CORP_KEY, corp)
  write(localStorage, CORP_KEY, corp)
}

const STATE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** A login attempt: the `state` WeCom must send back (login CSRF) and where to go after. */
export function beginLogin(next) {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  const state = Array.from(bytes, (b) => STATE_CHARS[b % STATE_CHARS.length]).join('')
  write(sessionStorage, PENDING_KEY, { state, next: next || '/', startedAt: Date.now() })
  return state
}

/** The pending login whose state matches, consumed (a state is good for one callback). */
export function finishLogin(state) {
  const pending = read(sessionStorage, PENDING_KEY)
  write(sessionStorage, PENDING_KEY, null)
  if (!pending || !state || pending.state !== state) return null
  return pending
}
