import { computed, ref } from 'vue'
import { defineStore } from 'pinia'
import { listAllCorps } from '@/api/wecom'

const CURRENT_KEY = 'wedraw.admin.wecom_corp'

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
 * The WeCom corps and the one the 企业微信 pages work on (every page but 企业配置
 * and 群机器人 is about one corp); the choice is remembered per browser.
 */
export const useWecomCorpStore = defineStore('wecom-corp', () => {
  const corps = ref([])
  const currentId = ref(readCurrent())
  const loaded = ref(false)
  const loading = ref(false)
  const error = ref(null)

  const current = computed(() => corps.value.find((c) => c.id === currentId.value) || null)

  function select(id) {
    currentId.value = id || null
    writeCurrent(currentId.value)
  }

  let pending = null
  function load(force = false) {
    if (loaded.value && !force) return Promise.resolve(corps.value)
    if (!pending) {
      loading.value = true
      pending = listAllCorps({ silent: true })
        .then((items) => {
          corps.value = items
          error.value = null
          loaded.value = true
          if (!items.some((c) => c.id === currentId.value)) {
            const preferred = items.find((c) => c.enabled) || items[0]
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

  return { corps, currentId, current, loaded, loading, error, load, select }
})
