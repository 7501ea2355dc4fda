import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { htmlReport } from './html.js'
import { markdownSummary } from './summary.js'
import type { BenchReport } from './types.js'

export interface ReportFiles {
  json: string
  html: string
  markdown: string
}

/** report.json, report.html and summary.md in `dir`. */
export function writeReport(dir: string, r: BenchReport): ReportFiles {
  mkdirSync(dir, { recursive: true })
  const files = {
    json: join(dir, 'report.json'),
    html: join(dir, 'report.html'),
    markdown: join(dir, 'summary.md'),
  }

  writeFileSync(files.json, `${JSON.stringify(r, null, 2)}\n`)
  writeFileSync(files.html, htmlReport(r))
  writeFileSync(files.markdown, markdownSummary(r))
  return files
}
