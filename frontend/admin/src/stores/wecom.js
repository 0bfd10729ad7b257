import { listAllCorps } from '@/api/wecom'
import { defineScopeStore } from './scope'

/**
 * The WeCom corps and the one the 企业微信 pages work on (every page but 企业配置
 * and 群机器人 is about one corp); the choice is remembered per browser.
 */
export const useWecomCorpStore = defineScopeStore('wecom-corp', {
  storageKey: 'wedraw.admin.wecom_corp',
  listAll: listAllCorps,
  alias: 'corps',
})
