// Mini Program (小程序) API: /api/miniprogram/... of the miniprogram service (admin routes).
import http from './http'

const data = (r) => r.data

export function listMembers(params) {
  return http.get('/api/miniprogram/members', { params }).then(data)
}

export function fetchMemberStats() {
  return http.get('/api/miniprogram/members/stats').then(data)
}

export function getMember(id) {
  return http.get(`/api/miniprogram/members/${id}`).then(data)
}

/** status 'disabled' ends the member's sessions at once; remark up to 255 characters. */
export function updateMember(id, payload) {
  return http.patch(`/api/miniprogram/members/${id}`, payload, { silent: true }).then(data)
}
