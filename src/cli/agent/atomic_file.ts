import { randomBytes } from 'node:crypto'
import { chown, open, readFile, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

export interface FileTarget {
  file: string
  mode: number
  owner?: number
  group?: number
}

/**
 * Replace `target.file` with `content` so a reader sees the old content or the new, never a part:
 * write a temporary file in the same folder (same filesystem, so the rename is atomic) with the
 * final mode and owner, flush it to disk, then rename it over the target. On any failure the
 * temporary file is removed and the target is left as it was.
 */
export async function writeFileAtomically(target: FileTarget, content: Uint8Array): Promise<void> {
  const dir = dirname(target.file)
  const temp = join(dir, `.${basename(target.file)}.tmp-${randomBytes(6).toString('hex')}`)
  try {
    const handle = await open(temp, 'wx', target.mode)
    try {
      await handle.writeFile(content)
      // the umask may have narrowed the mode given to open()
      await handle.chmod(target.mode)
      await handle.sync()
    } finally {
      await handle.close()
    }
    if (target.owner !== undefined || target.group !== undefined) {
      await chown(temp, target.owner ?? -1, target.group ?? -1)
    }
    await rename(temp, target.file)
  } catch (err) {
    await rm(temp, { force: true })
    throw err
  }
  await syncDir(dir)
}

/** The content now in `file`, or undefined when there is none (first run). */
export async function currentContent(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file)
  } catch {
    return undefined
  }
}

/** Make the rename itself durable (a crash right after must not bring the old file back). */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // some filesystems refuse fsync on a directory; the rename has still happened
  }
}
