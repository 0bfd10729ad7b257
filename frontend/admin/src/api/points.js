// Points mall (积分商城) API: /api/points/... of the points_mall service (admin routes).
// Writes whose field errors a form shows next to its inputs are `silent`.
import http from './http'
import { fetchAllPages } from './pagination'

const data = (r) => r.data

/** A fresh Idempotency-Key: a retried grant/deduction posts once. */
export function newIdempotencyKey() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID()
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`
}

// ---------------------------------------------------------------- accounts and the ledger

export function listAccounts(params) {
  return http.get('/api/points/accounts', { params }).then(data)
}

export function getAccount(id) {
  return http.get(`/api/points/accounts/${id}`).then(data)
}

export function listAccountLedger(id, params) {
  return http.get(`/api/points/accounts/${id}/ledger`, { params }).then(data)
}

/** direction: 'grant' | 'deduct'; 409 `insufficient_points` when a deduction exceeds the balance. */
export function adjustPoints(id, direction, { amount, reason }, key) {
  const path = direction === 'grant' ? 'grants' : 'deductions'
  return http
    .post(`/api/points/accounts/${id}/${path}`, { amount, reason }, { silent: true, headers: { 'Idempotency-Key': key } })
    .then(data)
}

export function searchLedger(params) {
  return http.get('/api/points/ledger', { params }).then(data)
}

export function fetchStats() {
  return http.get('/api/points/stats').then(data)
}

// ---------------------------------------------------------------- rules

export function getRules() {
  return http.get('/api/points/rules').then(data)
}

export function updateRules(payload) {
  return http.patch('/api/points/rules', payload, { silent: true }).then(data)
}

// ---------------------------------------------------------------- categories

export function listCategories(params) {
  return http.get('/api/points/categories', { params }).then(data)
}

export function listAllCategories(config = {}) {
  return fetchAllPages((params) => http.get('/api/points/categories', { ...config, params }).then(data))
}

export function createCategory(payload) {
  return http.post('/api/points/categories', payload, { silent: true }).then(data)
}

export function updateCategory(id, payload) {
  return http.patch(`/api/points/categories/${id}`, payload, { silent: true }).then(data)
}

export function deleteCategory(id) {
  return http.delete(`/api/points/categories/${id}`)
}

// ---------------------------------------------------------------- products

export function listProducts(params) {
  return http.get('/api/points/products', { params }).then(data)
}

export function getProduct(id) {
  return http.get(`/api/points/products/${id}`).then(data)
}

export function createProduct(payload) {
  return http.post('/api/points/products', payload, { silent: true }).then(data)
}

export function updateProduct(id, payload, config = {}) {
  return http.patch(`/api/points/products/${id}`, payload, { silent: true, ...config }).then(data)
}

export function deleteProduct(id) {
  return http.delete(`/api/points/products/${id}`)
}

/** change > 0 adds stock, < 0 removes it; 409 `insufficient_stock` below zero. */
export function adjustStock(id, change, note) {
  return http.post(`/api/points/products/${id}/stock`, { change, ...(note ? { note } : {}) }, { silent: true }).then(data)
}

export function listStockLogs(id, params) {
  return http.get(`/api/points/products/${id}/stock-logs`, { params }).then(data)
}

/** Uploads a product picture; resolves to `{name, url, content_type, size}`. */
export function uploadImage(file, onProgress) {
  const form = new FormData()
  form.append('file', file)
  return http
    .post('/api/points/images', form, {
      silent: true,
      timeout: 120000,
      onUploadProgress: (event) => {
        if (onProgress && event.total) onProgress(Math.round((event.loaded / event.total) * 100))
      },
    })
    .then(data)
}

// ---------------------------------------------------------------- orders

export function listOrders(params) {
  return http.get('/api/points/orders', { params }).then(data)
}

export function getOrder(id) {
  return http.get(`/api/points/orders/${id}`).then(data)
}

export function shipOrder(id, { carrier, tracking_no: trackingNo }) {
  return http.post(`/api/points/orders/${id}/ship`, { carrier, tracking_no: trackingNo }, { silent: true }).then(data)
}

export function completeOrder(id) {
  return http.post(`/api/points/orders/${id}/complete`).then(data)
}

export function cancelOrder(id, reason) {
  return http.post(`/api/points/orders/${id}/cancel`, reason ? { reason } : {}, { silent: true }).then(data)
}

export function refundOrder(id, reason) {
  return http.post(`/api/points/orders/${id}/refund`, reason ? { reason } : {}, { silent: true }).then(data)
}

/** The filtered orders as a CSV blob (the export route needs the admin token, so no plain link). */
export function exportOrders(params) {
  return http.get('/api/points/orders/export', { params, responseType: 'blob', timeout: 300000 }).then(data)
}
