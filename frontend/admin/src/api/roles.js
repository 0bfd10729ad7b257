import http from './http'
import { fetchAllPages } from './pagination'

const base = '/api/roles'

export function listRoles(params) {
  return http.get(base, { params }).then((r) => r.data)
}

/** Every role, for pickers (walks the pages). */
export function listAllRoles(config = {}) {
  return fetchAllPages((params) => http.get(base, { ...config, params }).then((r) => r.data))
}

export function listPermissions() {
  return http.get(`${base}/permissions`).then((r) => r.data)
}

export function createRole(payload) {
  return http.post(base, payload, { silent: true }).then((r) => r.data)
}

export function updateRole(id, payload) {
  return http.patch(`${base}/${id}`, payload, { silent: true }).then((r) => r.data)
}

export function deleteRole(id) {
  return http.delete(`${base}/${id}`)
}
