/**
 * Cross-references of `approval.approvers`: every approver must be an `admins` entry whose role may
 * decide approvals (approver or admin), so config says in one place who can approve what.
 * Works on raw YAML like the other reference checks (src/config/load.ts).
 */
const record = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {}
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [])

/** A comparable key for an admins/approvers entry (`mtls:<spiffe id>` or `oidc:<trust> <sub>`). */
function entryKey(entry: unknown): string | undefined {
  if (typeof entry === 'string') return `mtls:${entry}`
  const e = record(entry)
  if (typeof e.spiffe_id === 'string') return `mtls:${e.spiffe_id}`
  if (typeof e.issuer === 'string' && typeof e.subject === 'string') return `oidc:${e.issuer} ${e.subject}`
  return undefined
}

export function checkApprovers(raw: unknown): string[] {
  const config = record(raw)
  const roles = new Map<string, string>()
  for (const entry of list(config.admins)) {
    const key = entryKey(entry)
    const role = typeof entry === 'string' ? 'admin' : String(record(entry).role ?? 'admin')
    if (key && (roles.get(key) !== 'admin' || role === 'admin')) roles.set(key, role)
  }
  const problems: string[] = []
  const check = (approval: unknown, at: string) => {
    list(record(approval).approvers).forEach((approver, k) => {
      const key = entryKey(approver)
      if (key === undefined) return // the schema names the shape problem
      const role = roles.get(key)
      if (role === undefined)
        problems.push(`${at}.approval.approvers[${k}]: ${key.slice(5)} is not listed in admins`)
      else if (role !== 'admin' && role !== 'approver')
        problems.push(
          `${at}.approval.approvers[${k}]: ${key.slice(5)} has role ${role} in admins; an approver needs role approver or admin`,
        )
    })
  }
  list(config.grants).forEach((grant, i) => {
    list(record(grant).tokens).forEach((token, j) => {
      if (record(token).approval !== undefined) check(record(token).approval, `grants[${i}].tokens[${j}]`)
    })
  })
  for (const [name, secret] of Object.entries(record(config.secrets))) {
    if (record(secret).approval !== undefined) check(record(secret).approval, `secrets.${name}`)
  }
  return problems
}
