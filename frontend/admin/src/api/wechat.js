// Official Account (公众号) API: /api/wechat/... of the wechat_official service.
// Everything but the account list belongs to one account: /api/wechat/accounts/{id}/...
// Writes whose field errors a form shows next to its inputs are `silent`.
import http from './http'
import { fetchAllPages } from './pagination'

const ACCOUNTS = '/api/wechat/accounts'
const scoped = (accountId, path = '') => `${ACCOUNTS}/${accountId}${path}`
const data = (r) => r.data

// ---------------------------------------------------------------- accounts

export function listAccounts(params) {
  return http.get(ACCOUNTS, { params }).then(data)
}

export function listAllAccounts(config = {}) {
  return fetchAllPages((params) => http.get(ACCOUNTS, { ...config, params }).then(data))
}

export function createAccount(payload) {
  return http.post(ACCOUNTS, payload, { silent: true }).then(data)
}

export function updateAccount(id, payload) {
  return http.patch(scoped(id), payload, { silent: true }).then(data)
}

export function deleteAccount(id) {
  return http.delete(scoped(id))
}

export function checkAccount(id) {
  return http.post(scoped(id, '/check')).then(data)
}

// ---------------------------------------------------------------- fans

export function listFans(accountId, params) {
  return http.get(scoped(accountId, '/fans'), { params }).then(data)
}

export function getFan(accountId, fanId) {
  return http.get(scoped(accountId, `/fans/${fanId}`)).then(data)
}

export function setFanRemark(accountId, fanId, remark) {
  return http.patch(scoped(accountId, `/fans/${fanId}`), { remark }, { silent: true }).then(data)
}

export function listFanMessages(accountId, fanId, params) {
  return http.get(scoped(accountId, `/fans/${fanId}/messages`), { params }).then(data)
}

/** Customer-service message; 409 `wechat_45015` outside WeChat's 48-hour window. */
export function sendCustomerMessage(accountId, fanId, payload) {
  return http.post(scoped(accountId, `/fans/${fanId}/messages`), payload, { silent: true }).then(data)
}

/** Blacklist (or release) fans; WeChat takes 20 a call and the result reports every batch. */
export function blacklistFans(accountId, openids, add = true) {
  return http.post(scoped(accountId, add ? '/fans/blacklist' : '/fans/unblacklist'), { openids }).then(data)
}

/** Mark exactly the fans on WeChat's blacklist. */
export function syncBlacklist(accountId) {
  return http.post(scoped(accountId, '/fans/blacklist/sync')).then(data)
}

export function startFanSync(accountId, kind) {
  return http.post(scoped(accountId, '/fan-syncs'), { kind }, { silent: true }).then(data)
}

export function listFanSyncs(accountId, params) {
  return http.get(scoped(accountId, '/fan-syncs'), { params }).then(data)
}

export function getFanSync(accountId, jobId, config = {}) {
  return http.get(scoped(accountId, `/fan-syncs/${jobId}`), config).then(data)
}

// ---------------------------------------------------------------- tags

export function listTags(accountId, params) {
  return http.get(scoped(accountId, '/tags'), { params }).then(data)
}

export function listAllTags(accountId, config = {}) {
  return fetchAllPages((params) => http.get(scoped(accountId, '/tags'), { ...config, params }).then(data))
}

export function createTag(accountId, name) {
  return http.post(scoped(accountId, '/tags'), { name }, { silent: true }).then(data)
}

export function renameTag(accountId, tagId, name) {
  return http.patch(scoped(accountId, `/tags/${tagId}`), { name }, { silent: true }).then(data)
}

export function deleteTag(accountId, tagId) {
  return http.delete(scoped(accountId, `/tags/${tagId}`))
}

export function syncTags(accountId) {
  return http.post(scoped(accountId, '/tags/sync')).then(data)
}

/** `tagId` is the local tag id; openids go to WeChat in batches of 50. */
export function tagFans(accountId, tagId, openids) {
  return http.post(scoped(accountId, `/tags/${tagId}/tag-fans`), { openids }).then(data)
}

export function untagFans(accountId, tagId, openids) {
  return http.post(scoped(accountId, `/tags/${tagId}/untag-fans`), { openids }).then(data)
}

// ---------------------------------------------------------------- menus

export function listMenus(accountId, params) {
  return http.get(scoped(accountId, '/menus'), { params }).then(data)
}

export function getMenu(accountId, menuId) {
  return http.get(scoped(accountId, `/menus/${menuId}`)).then(data)
}

// Menu writes are silent: a 422 names the broken rule per button and the editor shows it there.
export function createMenu(accountId, payload) {
  return http.post(scoped(accountId, '/menus'), payload, { silent: true }).then(data)
}

export function updateMenu(accountId, menuId, payload) {
  return http.patch(scoped(accountId, `/menus/${menuId}`), payload, { silent: true }).then(data)
}

export function deleteMenu(accountId, menuId) {
  return http.delete(scoped(accountId, `/menus/${menuId}`))
}

export function validateMenu(accountId, buttons) {
  return http.post(scoped(accountId, '/menus/validate'), { buttons }, { silent: true }).then(data)
}

export function publishMenu(accountId, menuId) {
  return http.post(scoped(accountId, `/menus/${menuId}/publish`), null, { silent: true }).then(data)
}

export function getLiveMenu(accountId) {
  return http.get(scoped(accountId, '/menus/live')).then(data)
}

export function deleteLiveMenu(accountId) {
  return http.delete(scoped(accountId, '/menus/live'))
}

export function getMenuStats(accountId, params) {
  return http.get(scoped(accountId, '/menus/stats'), { params }).then(data)
}

// ---------------------------------------------------------------- auto-replies

export function listReplies(accountId, params) {
  return http.get(scoped(accountId, '/auto-replies'), { params }).then(data)
}

export function createReply(accountId, payload) {
  return http.post(scoped(accountId, '/auto-replies'), payload, { silent: true }).then(data)
}

export function updateReply(accountId, replyId, payload, config = { silent: true }) {
  return http.patch(scoped(accountId, `/auto-replies/${replyId}`), payload, config).then(data)
}

export function deleteReply(accountId, replyId) {
  return http.delete(scoped(accountId, `/auto-replies/${replyId}`))
}

export function previewReply(accountId, payload) {
  return http.get(scoped(accountId, '/auto-replies/preview'), { params: payload }).then(data)
}

// ---------------------------------------------------------------- QR codes

export function listQrCodes(accountId, params) {
  return http.get(scoped(accountId, '/qrcodes'), { params }).then(data)
}

export function createQrCode(accountId, payload) {
  return http.post(scoped(accountId, '/qrcodes'), payload, { silent: true }).then(data)
}

export function updateQrCode(accountId, qrcodeId, payload) {
  return http.patch(scoped(accountId, `/qrcodes/${qrcodeId}`), payload, { silent: true }).then(data)
}

export function deleteQrCode(accountId, qrcodeId) {
  return http.delete(scoped(accountId, `/qrcodes/${qrcodeId}`))
}

/** The PNG as a Blob (the image endpoint needs the bearer token, so no plain <img src>). */
export function fetchQrCodeImage(accountId, qrcodeId) {
  return http.get(scoped(accountId, `/qrcodes/${qrcodeId}/image`), { responseType: 'blob' }).then(data)
}

// ---------------------------------------------------------------- materials

export function listMaterials(accountId, params) {
  return http.get(scoped(accountId, '/materials'), { params }).then(data)
}

export function listAllMaterials(accountId, type, config = {}) {
  return fetchAllPages((params) =>
    http.get(scoped(accountId, '/materials'), { ...config, params: { ...params, type } }).then(data),
  )
}

export function uploadMaterial(accountId, { type, file, title, introduction }, onProgress) {
  const form = new FormData()
  form.append('type', type)
  if (title) form.append('title', title)
  if (introduction) form.append('introduction', introduction)
  form.append('file', file)
  return http
    .post(scoped(accountId, '/materials'), form, {
      silent: true,
      timeout: 120000,
      onUploadProgress: (event) => {
        if (onProgress && event.total) onProgress(Math.round((event.loaded / event.total) * 100))
      },
    })
    .then(data)
}

export function deleteMaterial(accountId, materialId) {
  return http.delete(scoped(accountId, `/materials/${materialId}`))
}

/**
 * A material's content for preview: `{ blob }` for image, voice and thumb, or
 * `{ video: {title, description, down_url} }` for a video.
 */
export async function fetchMaterialContent(accountId, materialId) {
  const response = await http.get(scoped(accountId, `/materials/${materialId}/content`), { responseType: 'blob' })
  const blob = response.data
  if ((blob.type || '').includes('application/json')) {
    return { video: JSON.parse(await blob.text()) }
  }
  return { blob }
}

// ---------------------------------------------------------------- message log

export function listMessages(accountId, params) {
  return http.get(scoped(accountId, '/messages'), { params }).then(data)
}
