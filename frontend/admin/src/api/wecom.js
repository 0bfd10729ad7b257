// WeCom (企业微信) API: /api/wecom/... of the wecom service.
// Everything but the corp list and the group robots belongs to one corp: /api/wecom/corps/{id}/...
// Writes whose field errors a form shows next to its inputs are `silent`.
import http from './http'
import { fetchAllPages } from './pagination'

const CORPS = '/api/wecom/corps'
const ROBOTS = '/api/wecom/robots'
const scoped = (corpId, path = '') => `${CORPS}/${corpId}${path}`
const data = (r) => r.data

// ---------------------------------------------------------------- corps and apps

export function listCorps(params) {
  return http.get(CORPS, { params }).then(data)
}

export function listAllCorps(config = {}) {
  return fetchAllPages((params) => http.get(CORPS, { ...config, params }).then(data))
}

export function getCorp(id) {
  return http.get(scoped(id)).then(data)
}

export function createCorp(payload) {
  return http.post(CORPS, payload, { silent: true }).then(data)
}

export function updateCorp(id, payload) {
  return http.patch(scoped(id), payload, { silent: true }).then(data)
}

export function deleteCorp(id) {
  return http.delete(scoped(id))
}

/** Proves every secret of the corp; the report is in `last_check`. */
export function checkCorp(id) {
  return http.post(scoped(id, '/check'), null, { silent: true }).then(data)
}

export function getCorpOverview(id) {
  return http.get(scoped(id, '/overview')).then(data)
}

export function listApps(corpId, params = { page: 1, page_size: 100 }) {
  return http.get(scoped(corpId, '/apps'), { params }).then(data)
}

export function createApp(corpId, payload) {
  return http.post(scoped(corpId, '/apps'), payload, { silent: true }).then(data)
}

export function updateApp(corpId, appId, payload) {
  return http.patch(scoped(corpId, `/apps/${appId}`), payload, { silent: true }).then(data)
}

export function deleteApp(corpId, appId) {
  return http.delete(scoped(corpId, `/apps/${appId}`))
}

// ---------------------------------------------------------------- sync jobs

/** kind: contacts | customers | groups; 409 while one of the same kind runs. */
export function startSync(corpId, kind) {
  return http.post(scoped(corpId, '/syncs'), { kind }, { silent: true }).then(data)
}

export function listSyncs(corpId, params) {
  return http.get(scoped(corpId, '/syncs'), { params }).then(data)
}

export function getSync(corpId, jobId, config = {}) {
  return http.get(scoped(corpId, `/syncs/${jobId}`), config).then(data)
}

// ---------------------------------------------------------------- contacts

export function getDepartmentTree(corpId) {
  return http.get(scoped(corpId, '/departments/tree')).then(data)
}

export function getDepartment(corpId, departmentId) {
  return http.get(scoped(corpId, `/departments/${departmentId}`)).then(data)
}

export function listMembers(corpId, params, config = {}) {
  return http.get(scoped(corpId, '/members'), { ...config, params }).then(data)
}

export function getMember(corpId, memberId) {
  return http.get(scoped(corpId, `/members/${memberId}`)).then(data)
}

export function listTags(corpId, params) {
  return http.get(scoped(corpId, '/tags'), { params }).then(data)
}

export function listAllTags(corpId, config = {}) {
  return fetchAllPages((params) => http.get(scoped(corpId, '/tags'), { ...config, params }).then(data))
}

export function getTag(corpId, tagId) {
  return http.get(scoped(corpId, `/tags/${tagId}`)).then(data)
}

// ---------------------------------------------------------------- customers and customer groups

export function listCustomers(corpId, params) {
  return http.get(scoped(corpId, '/customers'), { params }).then(data)
}

export function getCustomer(corpId, customerId) {
  return http.get(scoped(corpId, `/customers/${customerId}`)).then(data)
}

export function listCustomerGroups(corpId, params) {
  return http.get(scoped(corpId, '/customer-groups'), { params }).then(data)
}

export function getCustomerGroup(corpId, groupId) {
  return http.get(scoped(corpId, `/customer-groups/${groupId}`)).then(data)
}

export function listCustomerGroupMembers(corpId, groupId, params) {
  return http.get(scoped(corpId, `/customer-groups/${groupId}/members`), { params }).then(data)
}

// ---------------------------------------------------------------- app chats

export function listAppChats(corpId, params) {
  return http.get(scoped(corpId, '/app-chats'), { params }).then(data)
}

export function createAppChat(corpId, payload) {
  return http.post(scoped(corpId, '/app-chats'), payload, { silent: true }).then(data)
}

export function updateAppChat(corpId, chatId, payload) {
  return http.patch(scoped(corpId, `/app-chats/${chatId}`), payload, { silent: true }).then(data)
}

export function deleteAppChat(corpId, chatId) {
  return http.delete(scoped(corpId, `/app-chats/${chatId}`))
}

export function refreshAppChat(corpId, chatId) {
  return http.post(scoped(corpId, `/app-chats/${chatId}/refresh`)).then(data)
}

export function listAppChatMessages(corpId, chatId, params) {
  return http.get(scoped(corpId, `/app-chats/${chatId}/messages`), { params }).then(data)
}

export function sendAppChatMessage(corpId, chatId, payload) {
  return http.post(scoped(corpId, `/app-chats/${chatId}/messages`), payload, { silent: true }).then(data)
}

// ---------------------------------------------------------------- app messages

export function listAppMessages(corpId, params) {
  return http.get(scoped(corpId, '/app-messages'), { params }).then(data)
}

export function sendAppMessage(corpId, payload) {
  return http.post(scoped(corpId, '/app-messages'), payload, { silent: true }).then(data)
}

export function getAppMessage(corpId, messageId) {
  return http.get(scoped(corpId, `/app-messages/${messageId}`)).then(data)
}

// ---------------------------------------------------------------- group robots

export function listRobots(params) {
  return http.get(ROBOTS, { params }).then(data)
}

export function createRobot(payload) {
  return http.post(ROBOTS, payload, { silent: true }).then(data)
}

export function updateRobot(id, payload) {
  return http.patch(`${ROBOTS}/${id}`, payload, { silent: true }).then(data)
}

export function deleteRobot(id) {
  return http.delete(`${ROBOTS}/${id}`)
}

export function getRobot(id, config = {}) {
  return http.get(`${ROBOTS}/${id}`, config).then(data)
}

/** Queues a short test text; poll the returned message for its outcome. */
export function testRobot(id) {
  return http.post(`${ROBOTS}/${id}/test`, null, { silent: true }).then(data)
}

export function listRobotMessages(id, params, config = {}) {
  return http.get(`${ROBOTS}/${id}/messages`, { ...config, params }).then(data)
}

export function sendRobotMessage(id, payload) {
  return http.post(`${ROBOTS}/${id}/messages`, payload, { silent: true }).then(data)
}

export function getRobotMessage(robotId, messageId, config = {}) {
  return http.get(`${ROBOTS}/${robotId}/messages/${messageId}`, config).then(data)
}
