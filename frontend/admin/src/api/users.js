import http from './http'

const base = '/api/users'

export function listUsers(params) {
  return http.get(base, { params }).then((r) => r.data)
}

export function getUser(id) {
  return http.get(`${base}/${id}`).then((r) => r.data)
}

// Create/update are `silent`: the dialog shows field errors next to inputs.
export function createUser(payload) {
  return http.post(base, payload, { silent: true }).then((r) => r.data)
}

export function updateUser(id, payload) {
  return http.patch(`${base}/${id}`, payload, { silent: true }).then((r) => r.data)
}

export function disableUser(id) {
  return http.post(`${base}/${id}/disable`).then((r) => r.data)
}

export function enableUser(id) {
  return http.post(`${base}/${id}/enable`).then((r) => r.data)
}

export function resetUserPassword(id, password) {
  return http.post(`${base}/${id}/reset-password`, { password }, { silent: true })
}
