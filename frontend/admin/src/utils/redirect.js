/** Only same-app absolute paths are accepted as a post-login target. */
export function safeRedirect(value) {
  const target = Array.isArray(value) ? value[0] : value
  if (
    typeof target === 'string' &&
    target.startsWith('/') &&
    !target.startsWith('//') &&
    !target.startsWith('/\\') &&
    !target.startsWith('/login')
  ) {
    return target
  }
  return '/'
}
