// Message center (消息中心) API: /api/message/... of the message_center service.
// Writes whose field errors a form shows next to its inputs are `silent`.
import http from './http'
import { fetchAllPages } from './pagination'

const BASE = '/api/message'
const data = (r) => r.data

// ---------------------------------------------------------------- channels and senders

export function listChannels() {
  return http.get(`${BASE}/channels`).then(data)
}

export function listSenders(params) {
  return http.get(`${BASE}/senders`, { params }).then(data)
}

export function listAllSenders(params = {}) {
  return fetchAllPages((page) => http.get(`${BASE}/senders`, { params: { ...params, ...page } }).then(data))
}

// ---------------------------------------------------------------- templates

export function listTemplates(params) {
  return http.get(`${BASE}/templates`, { params }).then(data)
}

export function listAllTemplates(params = {}) {
  return fetchAllPages((page) => http.get(`${BASE}/templates`, { params: { ...params, ...page } }).then(data))
}

export function getTemplate(id) {
  return http.get(`${BASE}/templates/${id}`).then(data)
}

export function createTemplate(payload) {
  return http.post(`${BASE}/templates`, payload, { silent: true }).then(data)
}

export function updateTemplate(id, payload) {
  return http.patch(`${BASE}/templates/${id}`, payload, { silent: true }).then(data)
}

export function deleteTemplate(id) {
  return http.delete(`${BASE}/templates/${id}`)
}

/** Makes an Official Account's template-message templates exactly WeChat's. */
export function syncTemplates(senderId) {
  return http.post(`${BASE}/templates/sync`, { sender_id: senderId }).then(data)
}

/** Renders sample data; a missing, unknown, too long or ill-typed variable is a 422 naming it. */
export function previewTemplate(id, values, options = {}) {
  return http
    .get(`${BASE}/templates/${id}/preview`, {
      params: { data: JSON.stringify(values || {}), options: JSON.stringify(options || {}) },
      silent: true,
    })
    .then(data)
}

// ---------------------------------------------------------------- audiences

export function listAudienceLists(params) {
  return http.get(`${BASE}/audiences`, { params }).then(data)
}

/** Uploads openids / userids (a list or CSV text); duplicates are dropped. */
export function createAudienceList(payload) {
  return http.post(`${BASE}/audiences`, payload, { silent: true }).then(data)
}

/** How many recipients an audience has now: {count, description}. */
export function estimateAudience(params) {
  return http.get(`${BASE}/audiences/estimate`, { params, silent: true }).then(data)
}

// ---------------------------------------------------------------- campaigns

export function listCampaigns(params) {
  return http.get(`${BASE}/campaigns`, { params }).then(data)
}

export function getCampaign(id) {
  return http.get(`${BASE}/campaigns/${id}`).then(data)
}

export function createCampaign(payload) {
  return http.post(`${BASE}/campaigns`, payload, { silent: true }).then(data)
}

export function deleteCampaign(id) {
  return http.delete(`${BASE}/campaigns/${id}`)
}

/** start | pause | resume | cancel */
export function campaignAction(id, action) {
  return http.post(`${BASE}/campaigns/${id}/${action}`).then(data)
}

export function campaignProgress(id, config = {}) {
  return http.get(`${BASE}/campaigns/${id}/progress`, config).then(data)
}

export function campaignRecipients(id, params) {
  return http.get(`${BASE}/campaigns/${id}/recipients`, { params }).then(data)
}

export function campaignFailures(id, config = {}) {
  return http.get(`${BASE}/campaigns/${id}/failures`, config).then(data)
}

/** Every recipient's result as a CSV blob (downloaded with the session's token). */
export function exportCampaign(id) {
  return http.get(`${BASE}/campaigns/${id}/export.csv`, { responseType: 'blob', timeout: 300000 }).then(data)
}

// ---------------------------------------------------------------- sends and workers

export function listSends(params) {
  return http.get(`${BASE}/sends`, { params }).then(data)
}

export function getSend(id) {
  return http.get(`${BASE}/sends/${id}`).then(data)
}

export function fleetStatus(config = {}) {
  return http.get(`${BASE}/workers`, config).then(data)
}
