import { computed, ref } from 'vue'
import { listAllSenders, listChannels } from '@/api/message'
import { useFieldErrors } from '@/composables/useFieldErrors'

// Server messages the forms show often, in the console's language.
const FIELD_MESSAGES = [
  [/^Required\.?$|^is required$|Missing data for required field\.?/, '必填'],
  [/^Unknown template\.?$/, '模板不存在'],
  [/^Must be in the future\.?$/, '时间必须晚于现在'],
  [/^No recipients\.?$/, '受众为空：没有符合条件的接收人'],
  [/^is not a variable of this template$/, '不是该模板的变量'],
  [/^is too long \((\d+) characters, at most (\d+)\)$/, (m) => `过长（${m[1]} 个字符，最多 ${m[2]} 个）`],
  [/^Unknown field\.?$/, '未知字段'],
  [/^Not a valid integer\.?$/, '必须是整数'],
]

export function translateFieldMessage(text) {
  const value = String(text)
  for (const [pattern, replacement] of FIELD_MESSAGES) {
    const match = pattern.exec(value)
    if (match) return typeof replacement === 'function' ? replacement(match) : replacement
  }
  return value
}

/** `{audience: {tag_id: ['x']}}` → `{'audience.tag_id': ['x']}` (nested schemas answer nested errors). */
export function flattenErrors(errors, prefix = '') {
  const flat = {}
  for (const [key, value] of Object.entries(errors || {})) {
    const name = prefix ? `${prefix}.${key}` : key
    if (value && typeof value === 'object' && !Array.isArray(value)) Object.assign(flat, flattenErrors(value, name))
    else flat[name] = (Array.isArray(value) ? value : [value]).map(translateFieldMessage)
  }
  return flat
}

/** useFieldErrors for this module's forms: nested errors flattened and translated. */
export function useMessageFieldErrors() {
  const state = useFieldErrors()
  function show(error, knownFields = []) {
    state.show({ message: error?.message, errors: flattenErrors(error?.errors) }, knownFields)
  }
  return { ...state, show }
}

/** The channels and senders the message pages choose from (loaded once per page). */
export function useMessageRefs() {
  const channels = ref([])
  const senders = ref([])
  const loaded = ref(false)

  async function load() {
    const [c, s] = await Promise.all([listChannels().catch(() => []), listAllSenders().catch(() => [])])
    channels.value = c
    senders.value = s
    loaded.value = true
  }

  const channelByName = computed(() => Object.fromEntries(channels.value.map((c) => [c.name, c])))
  const senderById = computed(() => Object.fromEntries(senders.value.map((s) => [s.id, s])))

  function sendersFor(channelName) {
    const channel = channelByName.value[channelName]
    return channel ? senders.value.filter((s) => s.kind === channel.sender_kind) : senders.value
  }

  return { channels, senders, loaded, load, channelByName, senderById, sendersFor }
}
