import { ref } from 'vue'
import { fetchJssdkConfig } from '../api'

export const inWeChat = () => /MicroMessenger/i.test(navigator.userAgent)

/**
 * Inside WeChat: signs this page's URL (JS-SDK config from the API) and calls
 * wx.config, then sets what sharing the page shows. Outside WeChat it does nothing.
 * `status`: idle → signing → signed → ready | error.
 */
export function useJssdk() {
  const status = ref('idle')
  const error = ref('')

  async function setup({ title, desc, imgUrl }) {
    if (!inWeChat()) return
    status.value = 'signing'
    try {
      const url = window.location.href.split('#')[0]
      const config = await fetchJssdkConfig(url)
      status.value = 'signed'
      const { default: wx } = await import('weixin-js-sdk')
      wx.config({
        debug: false,
        appId: config.appId,
        timestamp: config.timestamp,
        nonceStr: config.nonceStr,
        signature: config.signature,
        jsApiList: ['updateAppMessageShareData', 'updateTimelineShareData'],
      })
      wx.ready(() => {
        const link = `${window.location.origin}${import.meta.env.BASE_URL}?appid=${config.appId}`
        wx.updateAppMessageShareData({ title, desc, link, imgUrl })
        wx.updateTimelineShareData({ title, link, imgUrl })
        status.value = 'ready'
      })
      wx.error((res) => {
        status.value = 'error'
        error.value = res?.errMsg || 'config failed'
      })
    } catch (e) {
      status.value = 'error'
      error.value = e?.message || String(e)
    }
  }

  return { status, error, setup }
}
