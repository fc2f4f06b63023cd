import { BrokerError } from '../errors.js'

/** The agent run a token is for (proto TaskContext, claim `kb_task`, audit run_id / tool_call_id). */
export interface TaskContext {
  runId?: string
  toolCallId?: string
  purpose?: string
}

/** What a request carried, as the transport decoded it (proto3: absent strings are ''). */
export interface RawTask {
  run_id?: string
  tool_call_id?: string
  purpose?: string
}

export const MAX_TASK_FIELD = 128
// C0/C1 controls, DEL, line/paragraph separators, lone surrogates, and U+FFFD: protobuf decodes
// bytes that are not UTF-8 into the replacement character, so its presence means they were sent.
const FORBIDDEN = /[\p{Cc}\u2028\u2029\p{Cs}\uFFFD]/u

/** Validate and trim nothing: ≤ 128 printable characters each; absent / empty fields are dropped. */
export function validateTask(raw: RawTask | null | undefined, path = 'task'): TaskContext | undefined {
  if (!raw) return undefined
  const out: TaskContext = {}
  const fields = [
    ['run_id', 'runId'],
    ['tool_call_id', 'toolCallId'],
    ['purpose', 'purpose'],
  ] as const
  for (const [wire, key] of fields) {
    const value = raw[wire]
    if (value === undefined || value === '') continue
    if (typeof value !== 'string')
      throw new BrokerError('ERR_INVALID_ARGUMENT', `${path}.${wire} must be a string`)
    if (FORBIDDEN.test(value))
      throw new BrokerError(
        'ERR_INVALID_ARGUMENT',
        `${path}.${wire} must be valid UTF-8 without control characters (it contains ${value.includes('\uFFFD') ? 'bytes that are not UTF-8' : 'a control character'})`,
      )
    if ([...value].length > MAX_TASK_FIELD)
      throw new BrokerError(
        'ERR_INVALID_ARGUMENT',
        `${path}.${wire} is longer than ${MAX_TASK_FIELD} characters (${[...value].length})`,
      )
    out[key] = value
  }
  return Object.keys(out).length > 0 ? out : undefined
}

/** The `kb_task` claim of a token (run and tool call only; purpose stays in the audit log). */
export interface TaskClaim {
  run_id?: string
  tool_call_id?: string
}

/**
 * A delegated child's task: the parent's run, unless the child names the same run; the child's
 * own tool_call_id when given. A child naming a different run is refused.
 */
export function inheritTask(
  parent: TaskClaim | undefined,
  child: TaskContext | undefined,
): TaskContext | undefined {
  if (child?.runId && parent?.run_id && child.runId !== parent.run_id)
    throw new BrokerError(
      'ERR_INVALID_ARGUMENT',
      `task.run_id "${child.runId}" differs from the parent token's run "${parent.run_id}"; a delegated token stays in its parent's run`,
    )
  const runId = parent?.run_id ?? child?.runId
  const toolCallId = child?.toolCallId ?? parent?.tool_call_id
  const out: TaskContext = {}
  if (runId) out.runId = runId
  if (toolCallId) out.toolCallId = toolCallId
  if (child?.purpose) out.purpose = child.purpose
  return Object.keys(out).length > 0 ? out : undefined
}

/** `tokens[].require_task`: a request without a run_id is refused. */
export function requireTask(task: TaskContext | undefined, grant: string, audience: string): void {
  if (!task?.runId)
    throw new BrokerError(
      'ERR_INVALID_ARGUMENT',
      `grant "${grant}" requires task.run_id for audience "${audience}" (tokens[].require_task): say which agent run the token is for`,
    )
}

/** The claim written into a token, or undefined when the task names no run or tool call. */
export function taskClaim(task: TaskContext | undefined): TaskClaim | undefined {
  if (!task?.runId && !task?.toolCallId) return undefined
  const claim: TaskClaim = {}
  if (task.runId) claim.run_id = task.runId
  if (task.toolCallId) claim.tool_call_id = task.toolCallId
  return claim
}
