import { reactive, ref } from 'vue'
import { DEFAULT_PAGE_SIZE, cleanParams } from '@/api/pagination'

function clone(value) {
  return JSON.parse(JSON.stringify(value ?? {}))
}

/**
 * State for a "search form + table + pagination" page.
 *
 * fetcher(params) returns `{items, total, page, page_size}`; `toParams(filters)`
 * maps the form model to query params (e.g. a date range to start/end).
 * Responses of superseded requests are ignored, so fast clicking is safe.
 */
export function usePagedList(fetcher, { defaults = {}, pageSize = DEFAULT_PAGE_SIZE, toParams } = {}) {
  const filters = reactive(clone(defaults))
  const items = ref([])
  const total = ref(0)
  const page = ref(1)
  const size = ref(pageSize)
  const loading = ref(false)
  let sequence = 0
  let lastSize = size.value

  async function load() {
    const mine = ++sequence
    loading.value = true
    try {
      const query = toParams ? toParams(filters) : { ...filters }
      const data = await fetcher(cleanParams({ ...query, page: page.value, page_size: size.value }))
      if (mine !== sequence) return
      items.value = data?.items || []
      total.value = Number(data?.total) || 0
      // The last page emptied (e.g. after a delete): step back to the new last page.
      if (items.value.length === 0 && total.value > 0 && page.value > 1) {
        page.value = Math.max(1, Math.ceil(total.value / size.value))
        await load()
      }
    } catch {
      // The HTTP layer already told the user; keep what is on screen.
    } finally {
      if (mine === sequence) loading.value = false
    }
  }

  function search() {
    page.value = 1
    return load()
  }

  function reset() {
    for (const key of Object.keys(filters)) delete filters[key]
    Object.assign(filters, clone(defaults))
    return search()
  }

  /** For el-pagination's `change` event (fires once for page or size changes). */
  function onPaginationChange(newPage, newSize) {
    if (newSize !== lastSize) {
      lastSize = newSize
      page.value = 1
    }
    return load()
  }

  return { filters, items, total, page, size, loading, load, search, reset, onPaginationChange }
}
