// Browser storage of an H5 app: the member's token session and a pending OAuth login.

const EXPIRY_MARGIN_MS = 30 * 1000
const STATE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

export function readJson(storage, key) {
  try {
    const raw = storage.getItem(key)
    return raw ? JSON.parse(raw) : null
  } catch {
    return null
  }
}

export function writeJson(storage, key, value) {
  try {
    if (value == null) storage.removeItem(key)
    else storage.setItem(key, JSON.stringify(value))
  } catch {
    // Storage unavailable (private mode): the value lasts for this page only.
  }
}

/**
 * A token session kept in localStorage under `key`.
 * `current(accept)` is the stored session while its token is valid (and `accept(session)` holds);
 * `save(fields, expiresIn)` stores `{ token, expiresAt, ...fields }`.
 */
export function tokenSession(key) {
  return {
    current(accept = () => true) {
      const session = readJson(localStorage, key)
      if (!session?.token || !session.expiresAt || session.expiresAt - EXPIRY_MARGIN_MS < Date.now()) return null
      return accept(session) ? session : null
    },
    save(fields, expiresIn) {
      writeJson(localStorage, key, { ...fields, expiresAt: Date.now() + Number(expiresIn) * 1000 })
    },
    clear() {
      writeJson(localStorage, key, null)
    },
  }
}

/** A value remembered for this tab (sessionStorage) and as the default for the next visit (localStorage). */
export function remembered(key) {
  return {
    get: () => readJson(sessionStorage, key) || readJson(localStorage, key) || null,
    set(value) {
      writeJson(sessionStorage, key, value)
      writeJson(localStorage, key, value)
    },
  }
}

/** OAuth login attempts: the `state` the provider must send back (login CSRF) and where to go after. */
export function oauthLogins(key) {
  return {
    begin(fields) {
      const bytes = crypto.getRandomValues(new Uint8Array(32))
      const state = Array.from(bytes, (b) => STATE_CHARS[b % STATE_CHARS.length]).join('')
      writeJson(sessionStorage, key, { ...fields, state, next: fields.next || '/', startedAt: Date.now() })
      return state
    },
    /** The pending login whose state matches, consumed (a state is good for one callback). */
    finish(state) {
      const pending = readJson(sessionStorage, key)
      writeJson(sessionStorage, key, null)
      if (!pending || !state || pending.state !== state) return null
      return pending
    },
  }
}
