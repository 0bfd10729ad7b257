// The member's session in this browser: the member token from the Mini Program login
// (wx.login code → POST /api/miniprogram/login), and which Mini Program it is for.

const SESSION_KEY = 'wedraw.h5.points.session'
const ADDRESS_KEY = 'wedraw.h5.points.address'
const EXPIRY_MARGIN_MS = 30 * 1000

function read(key) {
  try {
    const raw = localStorage.getItem(key)
    return raw ? JSON.parse(raw) : null
  } catch {
    return null
  }
}

function write(key, value) {
  try {
    if (value == null) localStorage.removeItem(key)
    else localStorage.setItem(key, JSON.stringify(value))
  } catch {
    // Storage unavailable (private mode): the login lasts for this page only.
  }
}

/** The stored session if its token is still valid: { token, expiresAt, member }. */
export function currentSession() {
  const session = read(SESSION_KEY)
  if (!session?.token || !session.expiresAt || session.expiresAt - EXPIRY_MARGIN_MS < Date.now()) return null
  return session
}

export function saveSession({ token, expires_in: expiresIn, member }) {
  write(SESSION_KEY, { token, expiresAt: Date.now() + Number(expiresIn) * 1000, member })
}

export function clearSession() {
  write(SESSION_KEY, null)
}

/** The last shipping address used, to fill the next redemption's form. */
export function lastAddress() {
  return read(ADDRESS_KEY)
}

export function rememberAddress(address) {
  write(ADDRESS_KEY, address)
}

/** A fresh Idempotency-Key for one redemption (a retry of it reuses the key). */
export function newIdempotencyKey() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID()
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
