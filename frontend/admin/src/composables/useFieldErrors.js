import { reactive } from 'vue'
import { ElMessage } from 'element-plus'

/**
 * Server-side field errors (`errors: {field: [msgs]}`) shown under the form
 * items: bind `:error="fieldErrors.username"` on el-form-item.
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
      fieldErrors[field] = Array.isArray(messages) ? messages.join('；') : String(messages)
      placed += 1
    }
    if (placed === 0) {
      ElMessage({ type: 'error', message: error?.message || '操作失败', grouping: true, showClose: true })
    }
  }

  return { fieldErrors, clear, show }
}
