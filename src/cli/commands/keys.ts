import type { Command } from 'commander'
import { signingKeyRows } from '../../audit/checkpoint/index.js'
import { systemClock } from '../../clock.js'
import { loadConfig } from '../../config/index.js'
import { loadOrCreateKek } from '../../issuer/kek.js'
import { SealedKeyStore } from '../../issuer/key_store.js'
import { RevocationList } from '../../issuer/revocations.js'
import { SigningKeys } from '../../issuer/signing_keys.js'
import { CliExit } from '../common.js'
import { openCliStorage } from '../storage_access.js'

async function keyRing(configFile: string) {
  const config = loadConfig(configFile)
  const storage = await openCliStorage({ config: configFile })
  const db = { close: () => storage.close() }
  const ring = new SigningKeys(
    new SealedKeyStore(signingKeyRows(storage.keys), loadOrCreateKek(config.keys.kek_file)),
    {
      algorithm: config.keys.algorithm,
      rotationPeriodMs: config.keys.rotation_period * 1000,
      publishAheadMs: config.keys.publish_ahead * 1000,
      maxTokenLifetimeMs: () =>
        Math.max(3600, ...config.grants.flatMap((g) => g.tokens.map((t) => t.max_ttl))) * 1000,
      clock: systemClock,
    },
  )
  await ring.reload()
  return { ring, db, storage }
}

/** `keybroker keys list|rotate` against the state database. */
export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('signing keys')

  keys
    .command('list')
    .description('published keys, which one signs, and when each activates')
    .requiredOption('-c, --config <file>', 'keybroker.yaml')
    .action(async (opts: { config: string }) => {
      const { ring, db } = await keyRing(opts.config)
      const signing = ring.list().length > 0 ? ring.signingKey().kid : undefined
      for (const key of ring.list()) {
        const state =
          key.retiredAt !== undefined
            ? 'retired (compromised)'
            : key.kid === signing
              ? 'signing'
              : key.activatesAt > Date.now()
                ? 'published (pending)'
                : 'published (retired)'
        process.stdout.write(
          `${key.kid}  ${key.alg}  ${state.padEnd(20)} created ${new Date(key.createdAt).toISOString()}  activates ${new Date(key.activatesAt).toISOString()}\n`,
        )
      }
      await db.close()
    })

  keys
    .command('rotate')
    .description('publish a new signing key; it signs after keys.publish_ahead (or at once with --now)')
    .requiredOption('-c, --config <file>', 'keybroker.yaml')
    .option('--now', 'sign with the new key immediately')
    .action(async (opts: { config: string; now?: boolean }) => {
      const { ring, db } = await keyRing(opts.config)
      if (ring.list().length === 0) await ring.init()
      const key = await ring.rotate({ immediate: opts.now ?? false })
      process.stdout.write(
        `new key ${key.kid} published; signs from ${new Date(key.activatesAt).toISOString()}\n`,
      )
      await db.close()
    })

  keys
    .command('retire')
    .description('retire a compromised key now: it stops signing, leaves JWKS, and its tokens are refused')
    .argument('<kid>', 'the key id (see keys list)')
    .requiredOption('-c, --config <file>', 'keybroker.yaml')
    .action(async (kid: string, opts: { config: string }) => {
      const config = loadConfig(opts.config)
      const { ring, db, storage } = await keyRing(opts.config)
      try {
        if (!(await ring.retire(kid))) throw new CliExit(`no published key ${kid} (see keybroker keys list)`)
        // an event on the revocation feed: brokers and verifiers drop the key at once
        const lifetime = Math.max(3600, ...config.grants.flatMap((g) => g.tokens.map((t) => t.max_ttl)))
        await new RevocationList(storage.revocations, systemClock).revoke([
          {
            jti: `kid:${kid}`,
            kid,
            expiresAt: Math.floor(Date.now() / 1000) + lifetime,
            reason: 'signing key retired',
          },
        ])
        process.stdout.write(
          `key ${kid} retired: it no longer signs or appears in JWKS; a running broker refuses its tokens within 1 s\n`,
        )
      } finally {
        await db.close()
      }
    })
}
