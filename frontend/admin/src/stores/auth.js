import { computed, ref } from 'vue'
import { defineStore } from 'pinia'
import * as authApi from '@/api/auth'
import { hasPermission as checkPermission } from '@/utils/permissions'

const STORAGE_KEYS = {
  access: 'wedraw.admin.access_token',
  refresh: 'wedraw.admin.refresh_token',
  expiresAt: 'wedraw.admin.access_expires_at',
}

function read(key) {
  try {
    return localStorage.getItem(key) || null
  } catch {
    return null
  }
}

function write(key, value) {
  try {
    if (value == null) localStorage.removeItem(key)
    else localStorage.setItem(key, String(value))
  } catch {
    // Storage may be unavailable (private mode); the session then lasts for the tab only.
  }
}

export const useAuthStore = defineStore('auth', () => {
  const accessToken = ref(read(STORAGE_KEYS.access))
  const refreshToken = ref(read(STORAGE_KEYS.refresh))
  const accessExpiresAt = ref(Number(read(STORAGE_KEYS.expiresAt)) || null)
  /** `GET /api/auth/me`; null until loaded. */
  const user = ref(null)

  const isLoggedIn = computed(() => Boolean(accessToken.value || refreshToken.value))
  const roles = computed(() => user.value?.roles || [])
  const permissions = computed(() => user.value?.permissions || [])
  const displayName = computed(() => user.value?.display_name || user.value?.username || '')

  function setAccessToken(token, expiresIn) {
    accessToken.value = token || null
    accessExpiresAt.value = token && expiresIn ? Date.now() + Number(expiresIn) * 1000 : null
    write(STORAGE_KEYS.access, accessToken.value)
    write(STORAGE_KEYS.expiresAt, accessExpiresAt.value)
  }

  function setRefreshToken(token) {
    refreshToken.value = token || null
    write(STORAGE_KEYS.refresh, refreshToken.value)
  }

  function clearSession() {
    setAccessToken(null)
    setRefreshToken(null)
    user.value = null
  }

  async function login(username, password) {
    const data = await authApi.login(username, password)
    setAccessToken(data.access_token, data.expires_in)
    setRefreshToken(data.refresh_token)
    user.value = null
    await loadUser()
  }

  /** Called by the HTTP layer on a 401; throws when the refresh is refused. */
  async function refreshAccessToken() {
    if (!refreshToken.value) throw new Error('no refresh token')
    const data = await authApi.refresh(refreshToken.value)
    setAccessToken(data.access_token, data.expires_in)
    // Accept a rotated refresh token if the server sends one.
    if (data.refresh_token) setRefreshToken(data.refresh_token)
  }

  let loadingUser = null
  function loadUser() {
    if (!loadingUser) {
      loadingUser = authApi
        .fetchMe({ silent: true })
        .then((me) => {
          user.value = me
          return me
        })
        .finally(() => {
          loadingUser = null
        })
    }
    return loadingUser
  }

  async function ensureUser() {
    return user.value || loadUser()
  }

  /** Ends the session on the server (best effort) and forgets it locally. */
  async function logout() {
    const token = refreshToken.value
    if (accessToken.value) {
      try {
        await authApi.logout(token)
      } catch {
        // The tokens are dropped locally whatever the server says.
      }
    }
    clearSession()
  }

  function can(permission) {
    return checkPermission(user.value, permission)
  }

  // Keep several open tabs in step: a login or logout in one applies to all.
  if (typeof window !== 'undefined') {
    window.addEventListener('storage', (event) => {
      if (event.key === STORAGE_KEYS.access) accessToken.value = event.newValue
      if (event.key === STORAGE_KEYS.refresh) {
        refreshToken.value = event.newValue
        if (!event.newValue) user.value = null
      }
      if (event.key === STORAGE_KEYS.expiresAt) accessExpiresAt.value = Number(event.newValue) || null
    })
  }

  return {
    accessToken,
    refreshToken,
    accessExpiresAt,
    user,
    isLoggedIn,
    roles,
    permissions,
    displayName,
    login,
    loadUser,
    ensureUser,
    refreshAccessToken,
    logout,
    clearSession,
    can,
  }
})
