/*
 * `node --import tsx test/bench/top_frames.ts FILE.cpuprofile [N]`: the N frames with the most
 * self time in a V8 CPU profile (what `--cpu-prof` writes), with their share of all samples.
 */
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}

const [file, n = '25'] = process.argv.slice(2)
if (!file) throw new Error('usage: top_frames.ts FILE.cpuprofile [N]')
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[] }
const self = new Map<string, number>()
let total = 0
for (const node of profile.nodes) {
  const hits = node.hitCount ?? 0
  total += hits
  const { functionName, url, lineNumber } = node.callFrame
  const where = url ? `${relative(process.cwd(), url.replace(/^file:\/\//, ''))}:${lineNumber + 1}` : ''
  const key = `${functionName || '(anonymous)'} ${where}`.trim()
  self.set(key, (self.get(key) ?? 0) + hits)
}
for (const [key, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(n))) {
  process.stdout.write(`${((hits / total) * 100).toFixed(1).padStart(5)}%  ${key}\n`)
}
