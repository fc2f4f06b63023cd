import { BrokerError } from '../../errors.js'

/**
 * Turn one key of a secret's JSON object (or the whole object) into bytes.
 * `what` names the config option ("field", "json_key") so a failure points at the right knob;
 * messages name the key, never a value.
 */
export function pickKey(data: unknown, key: string | undefined, what: string, where: string): Buffer {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new BrokerError('ERR_FAILED_PRECONDITION', `${where} is not a JSON object, so ${what} cannot apply`)
  }
  if (key === undefined) return Buffer.from(JSON.stringify(data), 'utf8')
  const value = Object.hasOwn(data, key) ? (data as Record<string, unknown>)[key] : undefined
  if (value === undefined || value === null) {
    throw new BrokerError('ERR_FAILED_PRECONDITION', `${where} has no ${what} '${key}'`)
  }
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(JSON.stringify(value), 'utf8')
}
