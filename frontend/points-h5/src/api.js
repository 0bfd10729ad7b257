// The member's API: login (/api/miniprogram/...) and the mall (/api/points/...).
// Member calls carry the member token; a 401 means the login is over.
import axios from 'axios'
import { createH5Http } from '../../h5-common/http.js'
import { clearSession, currentSession } from './session'

export { H5Error } from '../../h5-common/http.js'

const CODE_MESSAGES = {
  insufficient_points: '积分不足，无法兑换',
  insufficient_stock: '库存不足，商品已被兑完或剩余数量不够',
  purchase_limit_exceeded: '已超出每人限兑数量',
  idempotency_key_reused: '兑换请求重复且内容不一致，请返回重新兑换',
  product_not_found: '商品不存在或已下架',
  price_changed: '商品积分价刚刚调整，请刷新后重新兑换',
  already_signed_in: '今天已经签到过了，明天再来吧',
  sign_in_disabled: '签到活动暂未开启',
  sandbox_only: '请在微信小程序中打开积分商城',
  member_disabled: '该会员已被停用，请联系客服',
  member_token_invalid: '登录已失效，请重新登录',
  wechat_40029: '微信登录凭证无效，请重新登录',
  wechat_40163: '微信登录凭证已被使用，请重新登录',
  wechat_45011: '登录过于频繁，请稍后再试',
  wechat_40226: '微信风控拦截了本次登录，请稍后再试',
  wechat_unavailable: '微信服务暂时不可用，请稍后再试',
  app_not_found: '小程序未配置或已停用',
  order_already_refunded: '该订单已退回过积分',
}

const ORDER_STATES = { pending_shipment: '待发货', shipped: '已发货', completed: '已完成', cancelled: '已取消', refunded: '已退款' }

function describe(code) {
  if (CODE_MESSAGES[code]) return CODE_MESSAGES[code]
  const orderState = /^order_(\w+)$/.exec(code)
  if (orderState && ORDER_STATES[orderState[1]]) return `订单当前为「${ORDER_STATES[orderState[1]]}」，不能执行此操作`
  return undefined
}

const http = createH5Http(axios, {
  baseURL: '/api',
  session: currentSession,
  onExpired: clearSession,
  statusMessages: { 400: '请求有误，请重试', 404: '内容不存在或已下架', 429: '操作过于频繁，请稍后再试' },
  describe,
})

const data = (r) => r.data
const member = { asMember: true }

// ---------------------------------------------------------------- login (Mini Program flow)

export function fetchMiniProgram() {
  return http.get('/miniprogram/config').then(data)
}

/** What wx.login() returns inside a Mini Program, minted by the WeChat sandbox (sandbox only). */
export function sandboxWxLogin({ fresh = false } = {}) {
  return http.post('/miniprogram/sandbox/wxlogin', fresh ? { new: true } : {}).then(data)
}

export function login(code) {
  return http.post('/miniprogram/login', { code }).then(data)
}

export function fetchMember() {
  return http.get('/miniprogram/me', member).then(data)
}

// ---------------------------------------------------------------- the mall (public)

export function fetchCategories() {
  return http.get('/points/catalog/categories', { params: { page_size: 100 } }).then(data)
}

export function fetchProducts(params) {
  return http.get('/points/catalog/products', { params }).then(data)
}

export function fetchProduct(id) {
  return http.get(`/points/catalog/products/${id}`).then(data)
}

export function fetchRules() {
  return http.get('/points/catalog/rules').then(data)
}

// ---------------------------------------------------------------- the member's points

export function fetchSummary() {
  return http.get('/points/me', member).then(data)
}

export function fetchLedger(params) {
  return http.get('/points/me/ledger', { ...member, params }).then(data)
}

export function signIn() {
  return http.post('/points/me/sign-ins', null, member).then(data)
}

export function fetchCalendar(month) {
  return http.get('/points/me/sign-ins', { ...member, params: month ? { month } : {} }).then(data)
}

/** Redeems: the same `key` on a retry returns the same order and takes nothing more. */
export function redeem(payload, key) {
  return http.post('/points/orders', payload, { ...member, headers: { 'Idempotency-Key': key } }).then(data)
}

export function fetchOrders(params) {
  return http.get('/points/me/orders', { ...member, params }).then(data)
}

export function fetchOrder(id) {
  return http.get(`/points/me/orders/${id}`, member).then(data)
}

export function cancelOrder(id) {
  return http.post(`/points/me/orders/${id}/cancel`, {}, member).then(data)
}

export function confirmOrder(id) {
  return http.post(`/points/me/orders/${id}/confirm`, null, member).then(data)
}
