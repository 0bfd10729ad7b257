import { computed, ref } from 'vue'
import { defineStore } from 'pinia'
import { listAllAccounts } from '@/api/wechat'

const CURRENT_KEY = 'wedraw.admin.wechat_account'

function readCurrent() {
  try {
    return Number(localStorage.getItem(CURRENT_KEY)) || null
  } catch {
    return null
  }
}

function writeCurrent(id) {
  try {
    if (id) localStorage.setItem(CURRENT_KEY, String(id))
    else localStorage.removeItem(CURRENT_KEY)
  } catch {
    // Storage unavailable: the choice lasts for this tab only.
  }
}

/**
 * The Official Accounts and the one the 公众号 pages work on. Every page but
 * 公众号账号 is about one account; the choice is remembered per browser.
 */
export const useWechatAccountStore = defineStore('wechat-account', () => {
  const accounts = ref([])
  const currentId = ref(readCurrent())
  const loaded = ref(false)
  const loading = ref(false)
  /** The ApiError of the last failed load (e.g. 403 without wechat:accounts:read), or null. */
  const error = ref(null)

  const current = computed(() => accounts.value.find((a) => a.id === currentId.value) || null)

  function select(id) {
    currentId.value = id || null
    writeCurrent(currentId.value)
  }

  let pending = null
  /** Loads the account list once (or again with force) and keeps a valid current account. */
  function load(force = false) {
    if (loaded.value && !force) return Promise.resolve(accounts.value)
    if (!pending) {
      loading.value = true
      pending = listAllAccounts({ silent: true })
        .then((items) => {
          accounts.value = items
          error.value = null
          loaded.value = true
          if (!items.some((a) => a.id === currentId.value)) {
            const preferred = items.find((a) => a.enabled) || items[0]
            select(preferred ? preferred.id : null)
          }
          return items
        })
        .catch((e) => {
          error.value = e
          throw e
        })
        .finally(() => {
          loading.value = false
          pending = null
        })
    }
    return pending
  }

  return { accounts, currentId, current, loaded, loading, error, load, select }
})
