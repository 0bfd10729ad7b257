import { computed, ref } from 'vue'
import { listAllSenders, listChannels } from '@/api/message'
import { useFieldErrors } from '@/composables/useFieldErrors'
import { translateFieldMessage } from '@/utils/serverMessages'

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
