import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { BrokerError } from '../errors.js'
import { pickKey } from './lib/extract.js'
import type { Provider, SecretRef, SecretValue } from './provider.js'

export interface FileProviderOptions {
  name: string
  /** Absolute path of a JSON object of secret name → string value. */
  path: string
}

/** Larger than any sane secrets file; stops a misconfigured path (a log, a disk image) being slurped. */
const MAX_FILE_BYTES = 1024 * 1024

/**
 * Secrets from a local JSON file: `{ "api_key": "sk_...", ... }`; a secret's `field` picks one key,
 * and without `field` the whole object comes back as JSON.
 *
 * Made for `make run` (no Vault needed), and just as useful in production for secrets mounted as
 * files, e.g. a Kubernetes Secret volume holding a `secrets.json` key (`defaultMode: 0400`; an
 * `fsGroup` on the pod makes the files group-readable, which this provider refuses).
 * The file is read again on every cache miss, so a rotated mount is picked up within `cache_ttl`;
 * the version is a short hash of the content, so a change is visible in FetchSecret responses.
 * A file that the group or others can read is refused: the broker must not serve a key that
 * every local user could read anyway.
 *
 * @example
 * const local = new FileProvider({ name: 'local', path: '/etc/keybroker/secrets.json' })
 * const { value, version } = await local.get({ name: 'demo-key', field: 'api_key' })
 */
export class FileProvider implements Provider {
  readonly type = 'file' as const
  readonly name: string
  readonly #path: string

  constructor(opts: FileProviderOptions) {
    this.name = opts.name
    this.#path = opts.path
  }

  async get(ref: SecretRef): Promise<SecretValue> {
    const where = `secret ${ref.name} in file provider '${this.name}'`
    const content = await this.#read(ref)
    let parsed: unknown
    try {
      parsed = JSON.parse(content.toString('utf8'))
    } catch {
      // the parser's message may quote the file's content: say only where it broke
      throw new BrokerError(
        'ERR_FAILED_PRECONDITION',
        `${where}: ${this.#path} is not valid JSON (expected an object of name → string value)`,
      )
    }
    const value = pickKey(parsed, ref.field, 'field', where)
    const version = createHash('sha256').update(content).digest('hex').slice(0, 12)
    return { value, version }
  }

  async #read(ref: SecretRef): Promise<Buffer> {
    const p = `file provider '${this.name}'`
    let handle: Awaited<ReturnType<typeof open>>
    try {
      handle = await open(this.#path, 'r')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error'
      const reason =
        code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by the broker' : code
      throw new BrokerError(
        'ERR_FAILED_PRECONDITION',
        `${p} cannot read secret ${ref.name}: ${this.#path} ${reason}`,
      )
    }
    try {
      // stat the opened file, not the path, so a swap between check and read cannot slip through
      const stat = await handle.stat()
      if (!stat.isFile()) {
        throw new BrokerError(
          'ERR_FAILED_PRECONDITION',
          `${p} cannot read secret ${ref.name}: ${this.#path} is not a regular file`,
        )
      }
      if ((stat.mode & 0o077) !== 0) {
        const mode = (stat.mode & 0o777).toString(8).padStart(3, '0')
        throw new BrokerError(
          'ERR_FAILED_PRECONDITION',
          `${p} refuses ${this.#path}: mode ${mode} lets other users read it; run \`chmod 600 ${this.#path}\``,
        )
      }
      if (stat.size > MAX_FILE_BYTES) {
        throw new BrokerError(
          'ERR_FAILED_PRECONDITION',
          `${p} refuses ${this.#path}: ${stat.size} bytes is above the ${MAX_FILE_BYTES}-byte limit`,
        )
      }
      return await handle.readFile()
    } finally {
      await handle.close()
    }
  }
}
