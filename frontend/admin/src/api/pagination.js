export const PAGE_SIZES = [10, 20, 50, 100]
export const DEFAULT_PAGE_SIZE = 20

/** Drops empty filter values so they are not sent as `?q=`. */
export function cleanParams(params) {
  return Object.fromEntries(
    Object.entries(params).filter(([, v]) => v !== '' && v !== null && v !== undefined),
  )
}

/**
 * Collects every item of a paginated list endpoint, for small lists such as
 * roles in a select. Stops at `maxPages` so a huge list cannot hang the UI.
 */
export async function fetchAllPages(fetchPage, { pageSize = 100, maxPages = 20 } = {}) {
  const items = []
  for (let page = 1; page <= maxPages; page += 1) {
    const data = await fetchPage({ page, page_size: pageSize })
    const batch = data?.items || []
    items.push(...batch)
    if (batch.length === 0 || items.length >= (data.total ?? 0)) break
  }
  return items
}
