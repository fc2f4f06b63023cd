import { userInfo } from 'node:os'
import { type Command, Option } from 'commander'
import { signingKeyRows } from '../../audit/checkpoint/index.js'
import { systemClock } from '../../clock.js'
import { loadConfig } from '../../config/index.js'
import type { ListSigningKeysResponse__Output } from '../../generated/keybroker/v1/ListSigningKeysResponse.js'
import type { RetireSigningKeyResponse__Output } from '../../generated/keybroker/v1/RetireSigningKeyResponse.js'
import type { RotateSigningKeyResponse__Output } from '../../generated/keybroker/v1/RotateSigningKeyResponse.js'
import { loadOrCreateKek } from '../../issuer/kek.js'
import { type KeyListing, listKeys } from '../../issuer/key_listing.js'
import { SealedKeyStore } from '../../issuer/key_store.js'
import { RevocationList } from '../../issuer/revocations.js'
import { SigningKeys } from '../../issuer/signing_keys.js'
import { adminCall, adminClient } from '../admin_channel.js'
import { type SourceOptions, withSourceOptions } from '../audit_source.js'
import { CliExit } from '../common.js'
import { displayTime } from '../display_time.js'
import { terminalSafe } from '../exchange_output.js'
import { openCliChain, openCliStorage } from '../storage_access.js'

const maxTokenLifetimeSec = (config: ReturnType<typeof loadConfig>) =>
  Math.max(3600, ...config.grants.flatMap((g) => g.tokens.map((t) => t.max_ttl)))

async function keyRing(configFile: string) {
  const config = loadConfig(configFile)
  const storage = await openCliStorage({ config: configFile })
  const ring = new SigningKeys(
    new SealedKeyStore(signingKeyRows(storage.keys), loadOrCreateKek(config.keys.kek_file)),
    {
      algorithm: config.keys.algorithm,
      rotationPeriodMs: config.keys.rotation_period * 1000,
      publishAheadMs: config.keys.publish_ahead * 1000,
      maxTokenLifetimeMs: () => maxTokenLifetimeSec(config) * 1000,
      clock: systemClock,
    },
  )
  await ring.reload()
  return { ring, storage, config }
}

/** What each state means to an operator, next to the word the RPC uses. */
const STATE_NOTE: Record<KeyListing['state'], string> = {
  signing: 'signs new tokens',
  pending: 'published, signs from its activation',
  published: 'superseded; verifies its tokens until they expire',
  retired: 'compromised: not published, its tokens are refused',
}

function printKeys(keys: KeyListing[], utc: boolean): void {
  for (const key of keys) {
    const retired = key.retiredAt !== undefined ? `  retired ${displayTime(key.retiredAt, utc)}` : ''
    process.stdout.write(
      `${key.kid}  ${key.alg}  ${key.state.padEnd(9)}  created ${displayTime(key.createdAt, utc)}  activates ${displayTime(key.activatesAt, utc)}${retired}  (${STATE_NOTE[key.state]})\n`,
    )
  }
}

type KeyOptions = SourceOptions & { utc?: boolean }

/** Keys need the KEK, so the file mode is --config (not --db); --address goes through the Admin service. */
function fileMode(opts: KeyOptions): string | undefined {
  if (opts.address) {
    if (!opts.ca) throw new CliExit('--address needs --ca (and an admin --cert/--key or --token-file)')
    return undefined
  }
  if (!opts.config)
    throw new CliExit('give --config <file> (keys need its KEK), or --address for a running broker')
  return opts.config
}

function remote<T>(
  opts: KeyOptions,
  run: (call: <R>(method: string, req: object) => Promise<R>) => Promise<T>,
) {
  const client = adminClient({ ...opts, address: opts.address!, ca: opts.ca! })
  return run((method, req) => adminCall(client, method, req)).finally(() => client.close())
}

const utcOption = () => new Option('--utc', 'show times in UTC (default: local time)')

/** `keybroker keys list|rotate|retire`: against the state database (--config) or a running broker (--address). */
export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('signing keys')

  withSourceOptions(
    keys.command('list').description('every key: which one signs, pending, superseded, retired'),
  )
    .addOption(utcOption())
    .action(async (opts: KeyOptions) => {
      const file = fileMode(opts)
      if (file === undefined) {
        const res = await remote(opts, (call) => call<ListSigningKeysResponse__Output>('ListSigningKeys', {}))
        printKeys(
          res.keys.map((k) => ({
            kid: k.kid,
            alg: k.alg,
            createdAt: Number(k.created_at) * 1000,
            activatesAt: Number(k.activates_at) * 1000,
            ...(Number(k.retired_at) ? { retiredAt: Number(k.retired_at) * 1000 } : {}),
            state: k.state as KeyListing['state'],
          })),
          opts.utc ?? false,
        )
        return
      }
      const { ring, storage } = await keyRing(file)
      try {
        printKeys(listKeys(ring, Date.now()), opts.utc ?? false)
      } finally {
        await storage.close()
      }
    })

  withSourceOptions(
    keys
      .command('rotate')
      .description(
        'publish a new signing key; it signs after keys.publish_ahead (or at once with --now, file mode)',
      ),
  )
    .option('--now', 'sign with the new key immediately, superseding pending keys (with --config)')
    .addOption(utcOption())
    .action(async (opts: KeyOptions & { now?: boolean }) => {
      const file = fileMode(opts)
      if (file === undefined) {
        if (opts.now)
          throw new CliExit(
            '--now works with --config only: Admin.RotateSigningKey publishes the new key ahead of signing',
          )
        const res = await remote(opts, (call) =>
          call<RotateSigningKeyResponse__Output>('RotateSigningKey', {}),
        )
        process.stdout.write(
          `new key ${res.new_kid} published; signs from ${displayTime(Number(res.activates_at) * 1000, opts.utc ?? false)}\n`,
        )
        return
      }
      const { ring, storage } = await keyRing(file)
      try {
        if (ring.list().length === 0) await ring.init()
        const key = await ring.rotate({ immediate: opts.now ?? false })
        process.stdout.write(
          `new key ${key.kid} published; signs from ${displayTime(key.activatesAt, opts.utc ?? false)}\n`,
        )
      } finally {
        await storage.close()
      }
    })

  withSourceOptions(
    keys
      .command('retire')
      .description('retire a compromised key now: it stops signing, leaves JWKS, and its tokens are refused')
      .argument('<kid>', 'the key id (see keys list)'),
  )
    .option('--reason <text>', 'why (recorded in the audit log and on the revocation feed)')
    .action(async (kid: string, opts: KeyOptions & { reason?: string }) => {
      const file = fileMode(opts)
      if (file === undefined) {
        const res = await remote(opts, (call) =>
          call<RetireSigningKeyResponse__Output>('RetireSigningKey', { kid, reason: opts.reason ?? '' }),
        )
        process.stdout.write(
          `key ${res.kid} retired: it no longer signs or appears in JWKS, and the broker refuses its tokens now; published keys: ${res.published_kids.join(' ')} (audit ${res.exchange_id})\n`,
        )
        return
      }
      await retireInFile(file, kid, opts.reason)
    })
}

/** File mode: retire in the database, publish the `kid` event (brokers reload keys on it), audit it. */
async function retireInFile(file: string, kid: string, reason: string | undefined): Promise<void> {
  const { ring, storage, config } = await keyRing(file)
  try {
    if (!ring.list().some((k) => k.kid === kid))
      throw new CliExit(`no signing key ${terminalSafe(kid.slice(0, 128))} (see keybroker keys list)`)
    await ring.retire(kid)
    // an event on the revocation feed: brokers and verifiers drop the key at once
    await new RevocationList(storage.revocations, systemClock).revoke([
      {
        jti: `kid:${kid}`,
        kid,
        expiresAt: Math.floor(Date.now() / 1000) + maxTokenLifetimeSec(config),
        reason: reason || 'signing key retired',
      },
    ])
    const chain = await openCliChain(storage)
    let exchangeId: string
    try {
      exchangeId = (
        await chain.appender.append({
          kind: 'admin',
          decision: 'allow',
          subject: `local:${userInfo().username}`,
          auth_method: 'local',
          reason: reason || undefined,
          detail: { method: 'keybroker keys retire', kid },
        })
      ).id
    } finally {
      await chain.close()
    }
    process.stdout.write(
      `key ${kid} retired: it no longer signs or appears in JWKS; a running broker refuses its tokens within 1 s (audit ${exchangeId})\n`,
    )
  } finally {
    await storage.close()
  }
}
