import { useOAuthLogin } from '../../../h5-common/useOAuthLogin.js'
import { fetchAuthorizeUrl } from '../api'
import { beginLogin } from '../session'

/** Starts WeChat's web login (`start(scope, next)`): asks the API where to go and sends the browser there. */
export function useLogin() {
  return useOAuthLogin({ provider: '微信', begin: beginLogin, authorizeUrl: fetchAuthorizeUrl })
}
