import { randomBytes } from 'node:crypto'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { parseDuration } from '../../config/duration.js'

/**
 * `keybroker agent` configuration: where the broker is, how this workload proves who it is, and
 * which files to keep fresh. Validated once, here, by the zod schema; errors name the YAML path.
 *
 * @example
 * ```yaml
 * broker: { address: keybroker.keybroker.svc:7443, server_name: keybroker.keybroker.svc }
 * credentials: { ca_file: /etc/keybroker/ca.pem, token_file: /var/run/secrets/tokens/keybroker }
 * outputs:
 *   tokens:
 *     - { audience: payments-api, scopes: [payments:read], file: /run/keybroker/payments.jwt }
 *   secrets:
 *     - { name: stripe-key, file: /run/keybroker/stripe-key, mode: "0640", group: 2000 }
 * exec: { command: [/bin/sh, -c, "kill -HUP $(cat /run/app.pid)"] }
 * ```
 */

const nonEmpty = z.string().min(1, 'must not be empty')

/** Seconds, from `30s`, `5m`, `1h`. */
const toSeconds = (value: string | number, ctx: z.RefinementCtx) => {
  const seconds = parseDuration(String(value))
  if (seconds === undefined || seconds <= 0) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (30s, 5m, 1h)` })
    return z.NEVER
  }
  return seconds
}
const duration = (fallback: string) =>
  z.union([z.string(), z.number()]).default(fallback).transform(toSeconds)
const optionalDuration = z.union([z.string(), z.number()]).transform(toSeconds).optional()

/**
 * A file mode, written as octal: `"0600"`, `"640"`, `0o600`, or a bare `0600` (which YAML 1.2 reads
 * as the decimal number 600: its digits are taken as octal). Others may get no access at all: these
 * files hold credentials.
 */
const fileMode = z
  .union([z.string(), z.number()])
  .default('0600')
  .transform((value, ctx) => {
    const digits = String(value).replace(/^0o/, '')
    if (!/^[0-7]{3,4}$/.test(digits)) {
      ctx.addIssue({
        code: 'custom',
        message: `"${value}" is not an octal file mode (like "0600" or "0640")`,
      })
      return z.NEVER
    }
    const mode = Number.parseInt(digits, 8)
    if (mode & 0o007) {
      ctx.addIssue({ code: 'custom', message: `${digits}: others must get no access to a credential file` })
      return z.NEVER
    }
    if ((mode & 0o600) !== 0o600) {
      ctx.addIssue({
        code: 'custom',
        message: `${digits}: the agent itself needs read and write (at least 0600)`,
      })
      return z.NEVER
    }
    return mode
  })

const fileOutput = {
  /** Absolute path, or relative to the config file's folder. */
  file: nonEmpty,
  mode: fileMode,
  /** Numeric uid / gid to give the file (the agent must be allowed to chown). */
  owner: z.number().int().min(0).optional(),
  group: z.number().int().min(0).optional(),
}

export const agentConfigSchema = z.strictObject({
  broker: z.strictObject({
    /** gRPC `host:port` of the broker. */
    address: nonEmpty,
    /** Name to verify in the broker's certificate when it differs from the host in `address`. */
    server_name: nonEmpty.optional(),
    /** Deadline of each call to the broker, retries included. */
    timeout: duration('10s'),
  }),
  credentials: z
    .strictObject({
      /** CA bundle that signed the broker's certificate. */
      ca_file: nonEmpty,
      /** mTLS identity (e.g. a SPIFFE X.509-SVID) and its key; re-read when they change. */
      cert_file: nonEmpty.optional(),
      key_file: nonEmpty.optional(),
      /** A workload JWT (e.g. a projected service-account token); re-read when it changes. */
      token_file: nonEmpty.optional(),
    })
    .refine((c) => Boolean(c.cert_file) === Boolean(c.key_file), {
      message: 'cert_file and key_file go together',
    })
    .refine((c) => c.cert_file || c.token_file, {
      message: 'give cert_file/key_file (mTLS) or token_file (workload JWT) as the identity',
    }),
  outputs: z
    .strictObject({
      tokens: z
        .array(
          z.strictObject({
            audience: nonEmpty,
            scopes: z.array(nonEmpty).default([]),
            /** Lifetime to ask for (policy caps it); the grant's default when absent. */
            ttl: optionalDuration,
            /** Bind the token to the agent's certificate (only useful if the app presents the same one). */
            bind_to_certificate: z.boolean().default(false),
            ...fileOutput,
          }),
        )
        .default([]),
      secrets: z
        .array(
          z.strictObject({
            name: nonEmpty,
            /** How often to re-fetch a secret the broker gives no expiry for. */
            refresh: duration('5m'),
            ...fileOutput,
          }),
        )
        .default([]),
    })
    .refine((o) => o.tokens.length + o.secrets.length > 0, { message: 'list at least one token or secret' }),
  /** Run after one or more files changed (not through a shell: give argv). */
  exec: z
    .strictObject({
      command: z.array(nonEmpty).min(1, 'give the program and its arguments'),
      timeout: duration('30s'),
    })
    .optional(),
})

export type AgentConfig = z.output<typeof agentConfigSchema>

/** A bad agent config: the message names the file and the YAML path of each problem. */
export class AgentConfigError extends Error {}

/** Read, validate and resolve an agent config file; checks that every output can be written. */
export function loadAgentConfig(path: string): AgentConfig {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new AgentConfigError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  let raw: unknown
  try {
    raw = parseYaml(text)
  } catch (err) {
    throw new AgentConfigError(`${path}: not valid YAML: ${(err as Error).message}`)
  }
  const parsed = agentConfigSchema.safeParse(raw)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${yamlPath(i.path) || '(top)'}: ${i.message}`)
    throw new AgentConfigError(`${path}:\n  ${problems.join('\n  ')}`)
  }
  const config = resolvePaths(parsed.data, dirname(resolve(path)))
  checkOutputs(config, path)
  return config
}

/** `outputs.tokens[0].file`, as a person reads a YAML path. */
function yamlPath(path: PropertyKey[]): string {
  return path.reduce<string>(
    (text, key) =>
      typeof key === 'number' ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key),
    '',
  )
}

function resolvePaths(config: AgentConfig, base: string): AgentConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p))
  const { credentials: c, outputs: o } = config
  return {
    ...config,
    credentials: {
      ca_file: abs(c.ca_file),
      cert_file: c.cert_file && abs(c.cert_file),
      key_file: c.key_file && abs(c.key_file),
      token_file: c.token_file && abs(c.token_file),
    },
    outputs: {
      tokens: o.tokens.map((t) => ({ ...t, file: abs(t.file) })),
      secrets: o.secrets.map((s) => ({ ...s, file: abs(s.file) })),
    },
  }
}

/** Two outputs on one file would overwrite each other; a folder the agent cannot write fails later: say so now. */
function checkOutputs(config: AgentConfig, path: string): void {
  const seen = new Map<string, string>()
  const problems: string[] = []
  const all = [
    ...config.outputs.tokens.map((t, i) => ({ where: `outputs.tokens[${i}].file`, file: t.file })),
    ...config.outputs.secrets.map((s, i) => ({ where: `outputs.secrets[${i}].file`, file: s.file })),
  ]
  for (const { where, file } of all) {
    const first = seen.get(file)
    if (first) problems.push(`${where}: ${file} is also written by ${first}; give each output its own file`)
    else seen.set(file, where)
  }
  const checked = new Set<string>()
  for (const { where, file } of all) {
    const dir = dirname(file)
    if (checked.has(dir)) continue
    checked.add(dir)
    const problem = probeWritable(dir)
    if (problem) problems.push(`${where}: cannot write files in ${dir} (${problem})`)
  }
  if (problems.length > 0) throw new AgentConfigError(`${path}:\n  ${problems.join('\n  ')}`)
}

/** Create and remove a file: the only test that also holds for root, read-only mounts and immutable folders. */
function probeWritable(dir: string): string | undefined {
  const probe = resolve(dir, `.keybroker-agent-probe-${randomBytes(6).toString('hex')}`)
  try {
    writeFileSync(probe, '', { mode: 0o600, flag: 'wx' })
    rmSync(probe)
    return undefined
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err)
  }
}
