// Data analysis (数据分析) API: /api/analytics/... of the data_analysis service.
import http from './http'

const data = (r) => r.data

// ---------------------------------------------------------------- dashboard

export function getMetrics() {
  return http.get('/api/analytics/dashboard/metrics').then(data)
}

export function getKpis(params) {
  return http.get('/api/analytics/dashboard/kpis', { params }).then(data)
}

export function getSeries(params) {
  return http.get('/api/analytics/dashboard/series', { params }).then(data)
}

export function getBreakdown(params) {
  return http.get('/api/analytics/dashboard/breakdown', { params }).then(data)
}

export function getAccounts() {
  return http.get('/api/analytics/dashboard/accounts').then(data)
}

export function getTopProducts(params) {
  return http.get('/api/analytics/dashboard/top-products', { params }).then(data)
}

export function getTopQrCodes(params) {
  return http.get('/api/analytics/dashboard/top-qrcodes', { params }).then(data)
}

export function getCampaignFunnels(params) {
  return http.get('/api/analytics/dashboard/campaigns', { params }).then(data)
}

// ---------------------------------------------------------------- reports

export function listReportKinds() {
  return http.get('/api/analytics/reports/kinds').then(data)
}

export function listReports(params) {
  return http.get('/api/analytics/reports', { params }).then(data)
}

export function requestReport(payload) {
  return http.post('/api/analytics/reports', payload, { silent: true }).then(data)
}

export function retryReport(id) {
  return http.post(`/api/analytics/reports/${id}/retry`).then(data)
}

export function downloadReport(id) {
  return http.get(`/api/analytics/reports/${id}/download`, { responseType: 'blob', timeout: 300000 }).then(data)
}
