// The member's session in this browser: the member token from the Mini Program login
// (wx.login code → POST /api/miniprogram/login), and which Mini Program it is for.

import { readJson, tokenSession, writeJson } from '../../h5-common/storage.js'

const ADDRESS_KEY = 'wedraw.h5.points.address'
const session = tokenSession('wedraw.h5.points.session')

/** The stored session if its token is still valid: { token, expiresAt, member }. */
export const currentSession = () => session.current()

export function saveSession({ token, expires_in: expiresIn, member }) {
  session.save({ token, member }, expiresIn)
}

export const clearSession = session.clear

/** The last shipping address used, to fill the next redemption's form. */
export function lastAddress() {
  return readJson(localStorage, ADDRESS_KEY)
}

export function rememberAddress(address) {
  writeJson(localStorage, ADDRESS_KEY, address)
}

/** A fresh Idempotency-Key for one redemption (a retry of it reuses the key). */
export function newIdempotencyKey() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID()
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
