// The fan's session in this browser: the fan token from WeChat's web login, and
// which Official Account the pages are for (`?appid=` on the entry URL).

const SESSION_KEY = 'wedraw.h5.wechat.session'
const APPID_KEY = 'wedraw.h5.wechat.appid'
const PENDING_KEY = 'wedraw.h5.wechat.oauth'
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

/** The stored session if its token is still valid: { token, expiresAt, appid, openid, scope }. */
export function currentSession() {
  const session = read(localStorage, SESSION_KEY)
  if (!session?.token || !session.expiresAt || session.expiresAt - EXPIRY_MARGIN_MS < Date.now()) return null
  const appid = currentAppid()
  if (appid && session.appid !== appid) return null
  return session
}

export function saveSession({ token, expires_in: expiresIn, appid, openid, scope }) {
  write(localStorage, SESSION_KEY, { token, expiresAt: Date.now() + Number(expiresIn) * 1000, appid, openid, scope })
  rememberAppid(appid)
}

export function clearSession() {
  write(localStorage, SESSION_KEY, null)
}

export function currentAppid() {
  return read(sessionStorage, APPID_KEY) || read(localStorage, APPID_KEY) || null
}

export function rememberAppid(appid) {
  if (!appid) return
  write(sessionStorage, APPID_KEY, appid)
  write(localStorage, APPID_KEY, appid)
}

const STATE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** A login attempt: the `state` WeChat must send back (login CSRF), the scope and where to go after. */
export function beginLogin(scope, next) {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  const state = Array.from(bytes, (b) => STATE_CHARS[b % STATE_CHARS.length]).join('')
  write(sessionStorage, PENDING_KEY, { state, scope, next: next || '/', startedAt: Date.now() })
  return state
}

/** The pending login whose state matches, consumed (a state is good for one callback). */
export function finishLogin(state) {
  const pending = read(sessionStorage, PENDING_KEY)
  write(sessionStorage, PENDING_KEY, null)
  if (!pending || !state || pending.state !== state) return null
  return pending
}
