const pad = (n) => String(n).padStart(2, '0')

/** ISO timestamp → local `YYYY-MM-DD HH:mm:ss`; '-' when empty or unparsable. */
export function formatDateTime(value) {
  if (!value) return '-'
  const d = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(d.getTime())) return String(value)
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  )
}

/** Date (or picker value) → ISO 8601 with offset, for `start`/`end` filters. */
export function toIsoString(value) {
  if (!value) return undefined
  const d = value instanceof Date ? value : new Date(value)
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString()
}

export function orDash(value) {
  return value === null || value === undefined || value === '' ? '-' : value
}
