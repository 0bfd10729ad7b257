import { ref } from 'vue'
import { showToast } from 'vant'

/**
 * Starts a provider's web login (WeChat, WeCom): asks the API where to go, sends the browser there.
 * `begin(scope, next)` records the attempt and returns its state; `authorizeUrl({ scope, redirectUri,
 * state })` resolves to `{ url }`. `redirecting` holds the scope being started ('' when idle).
 */
export function useOAuthLogin({ provider, begin, authorizeUrl }) {
  const redirecting = ref('')

  async function start(scope = 'login', next = '/') {
    redirecting.value = scope
    try {
      const state = begin(scope, next)
      const redirectUri = `${window.location.origin}${import.meta.env.BASE_URL}oauth/callback`
      const { url } = await authorizeUrl({ scope, redirectUri, state })
      window.location.assign(url)
    } catch (error) {
      redirecting.value = ''
      showToast({ message: error.message || `无法发起${provider}登录`, position: 'bottom' })
    }
  }

  return { redirecting, start }
}
