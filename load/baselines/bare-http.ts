/**
 * Bare node:http answering every request with one fixed JSON body: the
 * ceiling for the latest-value API on this machine.
 *
 * Run: node --import tsx load/baselines/bare-http.ts PORT BODY_FILE
 */
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'

const port = Number(process.argv[2])
const body = readFileSync(process.argv[3] ?? '/dev/null')

createServer((_req, res) => {
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': body.length,
  })
  res.end(body)
}).listen(port, '127.0.0.1')

process.once('SIGTERM', () => process.exit(0))
