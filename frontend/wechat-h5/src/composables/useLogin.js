import { ref } from 'vue'
import { showToast } from 'vant'
import { fetchAuthorizeUrl } from '../api'
import { beginLogin } from '../session'

/** Starts WeChat's web login: asks the API where to go and sends the browser there. */
export function useLogin() {
  const redirecting = ref('')

  async function start(scope, next = '/') {
    redirecting.value = scope
    try {
      const state = beginLogin(scope, next)
      const redirectUri = `${window.location.origin}${import.meta.env.BASE_URL}oauth/callback`
      const { url } = await fetchAuthorizeUrl({ scope, redirectUri, state })
      window.location.assign(url)
    } catch (error) {
      redirecting.value = ''
      showToast({ message: error.message || '无法发起微信登录', position: 'bottom' })
    }
  }

  return { redirecting, start }
}
