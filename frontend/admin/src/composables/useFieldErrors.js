import { reactive } from 'vue'
import { ElMessage } from 'element-plus'
import { translateFieldMessage } from '@/utils/serverMessages'

/**
 * Server-side field errors (`errors: {field: [msgs]}`) shown under the form
 * items, in Chinese where the message is a known one: bind
 * `:error="fieldErrors.username"` on el-form-item.
 */
export function useFieldErrors() {
  const fieldErrors = reactive({})

  function clear() {
    for (const key of Object.keys(fieldErrors)) delete fieldErrors[key]
  }

  /**
   * Shows an ApiError: its field errors next to `knownFields`, and a toast
   * with the message when no field error could be placed.
   */
  function show(error, knownFields = []) {
    clear()
    let placed = 0
    for (const [field, messages] of Object.entries(error?.errors || {})) {
      if (!knownFields.includes(field)) continue
      fieldErrors[field] = (Array.isArray(messages) ? messages : [messages]).map(translateFieldMessage).join('；')
      placed += 1
    }
    if (placed === 0) {
      ElMessage({ type: 'error', message: error?.message || '操作失败', grouping: true, showClose: true })
    }
  }

  return { fieldErrors, clear, show }
}
