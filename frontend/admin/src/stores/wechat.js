import { listAllAccounts } from '@/api/wechat'
import { defineScopeStore } from './scope'

/**
 * The Official Accounts and the one the 公众号 pages work on. Every page but
 * 公众号账号 is about one account; the choice is remembered per browser.
 */
export const useWechatAccountStore = defineScopeStore('wechat-account', {
  storageKey: 'wedraw.admin.wechat_account',
  listAll: listAllAccounts,
  alias: 'accounts',
})
