import http from './http'

export function listAuditLogs(params) {
  return http.get('/api/audit', { params }).then((r) => r.data)
}
