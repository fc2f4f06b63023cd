import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { type BrokerError, configError } from './errors.js'

/** The PEM files a channel is built from; `version` changes whenever a new good set is loaded. */
export interface ChannelMaterial {
  ca: Buffer
  cert?: Buffer
  key?: Buffer
  version: number
}

export interface CredentialFilePaths {
  caFile: string
  certFile?: string
  keyFile?: string
  workloadTokenFile?: string
}

const MAX_WORKLOAD_TOKEN_BYTES = 16 * 1024
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/**
 * Certificate, key, CA and workload-token files, re-read when they change on disk (SPIRE rotates
 * SVIDs, Kubernetes swaps projected tokens through a symlink). Changes are noticed on use, at most
 * once per `checkIntervalMs`, by comparing inode, size and mtime (stat follows symlinks). A changed
 * file that does not parse is reported through `onError` and the last good content stays in use,
 * so a half-written or corrupted file never takes a running service down.
 */
export class CredentialFiles {
  private material: ChannelMaterial
  private token?: string
  private readonly stamps = new Map<string, string>()
  private lastCheck: number

  constructor(
    private readonly paths: CredentialFilePaths,
    private readonly options: {
      checkIntervalMs: number
      now: () => number
      onError: (err: BrokerError) => void
    },
  ) {
    if (Boolean(paths.certFile) !== Boolean(paths.keyFile)) {
      throw configError('tls.certFile and tls.keyFile go together: give both or neither')
    }
    // At start-up a bad file is fatal: there is no last good content to fall back on.
    // Stamp before reading, so a change racing with start-up is seen at the next check.
    this.changed(this.tlsPaths())
    this.material = { ...loadTls(paths), version: 1 }
    if (paths.workloadTokenFile) {
      this.changed([paths.workloadTokenFile])
      this.token = loadToken(paths.workloadTokenFile)
    }
    this.lastCheck = options.now()
  }

  /** Current TLS material (re-checked on disk when due). */
  channelMaterial(): ChannelMaterial {
    this.checkIfDue()
    return this.material
  }

  /** Current workload token from `workloadTokenFile`, if one is configured. */
  workloadToken(): string | undefined {
    this.checkIfDue()
    return this.token
  }

  private tlsPaths(): string[] {
    return [this.paths.caFile, this.paths.certFile, this.paths.keyFile].filter((p): p is string => Boolean(p))
  }

  private checkIfDue(): void {
    const now = this.options.now()
    if (now - this.lastCheck < this.options.checkIntervalMs) return
    this.lastCheck = now
    if (this.changed(this.tlsPaths())) {
      try {
        this.material = { ...loadTls(this.paths), version: this.material.version + 1 }
      } catch (err) {
        this.options.onError(keepingLastGood(err))
      }
    }
    const tokenFile = this.paths.workloadTokenFile
    if (tokenFile && this.changed([tokenFile])) {
      try {
        this.token = loadToken(tokenFile)
      } catch (err) {
        this.options.onError(keepingLastGood(err))
      }
    }
  }

  /** True when any file's stamp moved; the new stamps are remembered so one bad write is reported once. */
  private changed(paths: string[]): boolean {
    let changed = false
    for (const path of paths) {
      const stamp = stampOf(path)
      if (this.stamps.get(path) !== stamp) changed = true
      this.stamps.set(path, stamp)
    }
    return changed
  }
}

function keepingLastGood(err: unknown): BrokerError {
  const message = err instanceof Error ? err.message : String(err)
  return configError(`${message}; still using the last good one`, err)
}

/** Identity of a file's current content as far as stat can tell (a missing file is a state too). */
function stampOf(path: string): string {
  try {
    const s = statSync(path)
    return `${s.ino}:${s.size}:${s.mtimeMs}`
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code ?? 'error'}`
  }
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw configError(`${what} ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err)
  }
}

/** Read and check the TLS files together, so a certificate is never paired with the wrong key. */
function loadTls(paths: CredentialFilePaths): Omit<ChannelMaterial, 'version'> {
  const ca = read(paths.caFile, 'tls.caFile')
  try {
    new X509Certificate(ca)
  } catch (err) {
    throw configError(`tls.caFile ${paths.caFile}: not a PEM certificate`, err)
  }
  if (!paths.certFile || !paths.keyFile) return { ca }
  const cert = read(paths.certFile, 'tls.certFile')
  const key = read(paths.keyFile, 'tls.keyFile')
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(cert)
  } catch (err) {
    throw configError(`tls.certFile ${paths.certFile}: not a PEM certificate`, err)
  }
  let privateKey: ReturnType<typeof createPrivateKey>
  try {
    privateKey = createPrivateKey(key)
  } catch (err) {
    // The error from node:crypto never echoes key material; ours does not either.
    throw configError(`tls.keyFile ${paths.keyFile}: not a PEM private key`, err)
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw configError(
      `tls.certFile ${paths.certFile} and tls.keyFile ${paths.keyFile} do not belong together`,
    )
  }
  return { ca, cert, key }
}

function loadToken(path: string): string {
  const token = read(path, 'workloadTokenFile').toString('utf8').trim()
  if (token.length === 0) throw configError(`workloadTokenFile ${path}: file is empty`)
  if (token.length > MAX_WORKLOAD_TOKEN_BYTES || !COMPACT_JWS.test(token)) {
    throw configError(`workloadTokenFile ${path}: not a compact JWT`)
  }
  return token
}
