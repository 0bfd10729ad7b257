import { computed, ref } from 'vue'
import { defineStore } from 'pinia'

function readCurrent(key) {
  try {
    return Number(localStorage.getItem(key)) || null
  } catch {
    return null
  }
}

function writeCurrent(key, id) {
  try {
    if (id) localStorage.setItem(key, String(id))
    else localStorage.removeItem(key)
  } catch {
    // Storage unavailable: the choice lasts for this tab only.
  }
}

/**
 * A module's scope: the list of things its pages work on one at a time (Official Accounts,
 * WeCom corps) and the current one, remembered per browser under `storageKey`.
 * `listAll({ silent })` resolves to every item (each with `id` and `enabled`).
 * The store exposes `items`, also under `alias` (e.g. `accounts`) for readable call sites.
 */
export function defineScopeStore(id, { storageKey, listAll, alias }) {
  return defineStore(id, () => {
    const items = ref([])
    const currentId = ref(readCurrent(storageKey))
    const loaded = ref(false)
    const loading = ref(false)
    /** The ApiError of the last failed load (e.g. 403 without the read permission), or null. */
    const error = ref(null)

    const current = computed(() => items.value.find((item) => item.id === currentId.value) || null)

    function select(value) {
      currentId.value = value || null
      writeCurrent(storageKey, currentId.value)
    }

    let pending = null
    /** Loads the list once (or again with force) and keeps a valid current item (an enabled one first). */
    function load(force = false) {
      if (loaded.value && !force) return Promise.resolve(items.value)
      if (!pending) {
        loading.value = true
        pending = listAll({ silent: true })
          .then((all) => {
            items.value = all
            error.value = null
            loaded.value = true
            if (!all.some((item) => item.id === currentId.value)) {
              const preferred = all.find((item) => item.enabled) || all[0]
              select(preferred ? preferred.id : null)
            }
            return all
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

    return { items, [alias]: items, currentId, current, loaded, loading, error, load, select }
  })
}
