import { hasPermission } from '@/utils/permissions'

function joinPath(parent, child) {
  if (child.startsWith('/')) return child
  const base = parent.endsWith('/') ? parent : `${parent}/`
  return `${base}${child}`.replace(/\/+$/, '') || '/'
}

/**
 * Menu tree for `user` from route records: entries with a title, not hidden,
 * and allowed by `meta.permission`; a module shows only when at least one of
 * its pages does. Result: [{ key, path, title, icon, testId, children? }].
 */
export function buildMenu(records, user, parentPath = '/') {
  const entries = []
  for (const record of records) {
    const meta = record.meta || {}
    if (!meta.title || meta.hidden || record.path.includes(':')) continue
    if (!hasPermission(user, meta.permission)) continue
    const path = joinPath(parentPath, record.path)
    const entry = {
      key: String(record.name || path),
      path,
      title: meta.title,
      icon: meta.icon || null,
      testId: meta.testId || String(record.name || path),
    }
    if (record.children?.length) {
      entry.children = buildMenu(record.children, user, path)
      if (entry.children.length === 0) continue
    }
    entries.push(entry)
  }
  return entries
}

/** First page path of a module the user may open, or null. */
export function firstAllowedChildPath(record, user, parentPath = '/') {
  const [first] = buildMenu(record.children || [], user, joinPath(parentPath, record.path))
  return first ? first.path : null
}
