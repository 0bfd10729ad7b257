import http from './http'

// Login and refresh are sent without the access token and never trigger the
// refresh-on-401 logic; callers show their own errors.
export function login(username, password) {
  return http
    .post('/api/auth/login', { username, password }, { skipAuth: true, silent: true })
    .then((r) => r.data)
}

export function refresh(refreshToken) {
  return http
    .post('/api/auth/refresh', null, {
      skipAuth: true,
      silent: true,
      headers: { Authorization: `Bearer ${refreshToken}` },
    })
    .then((r) => r.data)
}

/** Best effort: ends the access token's session and revokes the refresh token. */
export function logout(refreshToken) {
  return http.post('/api/auth/logout', refreshToken ? { refresh_token: refreshToken } : {}, {
    skipRefresh: true,
    silent: true,
    timeout: 5000,
  })
}

export function fetchMe(config = {}) {
  return http.get('/api/auth/me', config).then((r) => r.data)
}

export function changePassword(oldPassword, newPassword) {
  return http.post(
    '/api/auth/password',
    { old_password: oldPassword, new_password: newPassword },
    { silent: true },
  )
}

export function listLoginLogs(params) {
  return http.get('/api/auth/login-logs', { params }).then((r) => r.data)
}

export function listSessions(params) {
  return http.get('/api/auth/sessions', { params }).then((r) => r.data)
}

export function endSession(id) {
  return http.delete(`/api/auth/sessions/${encodeURIComponent(id)}`)
}
