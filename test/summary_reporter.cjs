// Mocha's spec reporter plus one plain closing line ("N passed, N failed, N skipped") that CI reads.
const Spec = require('mocha').reporters.Spec

class SummaryReporter extends Spec {
  constructor(runner, options) {
    super(runner, options)
    runner.once('end', () => {
      const s = runner.stats
      process.stdout.write(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`)
    })
  }
}

module.exports = SummaryReporter
