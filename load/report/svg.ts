/** Small, dependency-free SVG line charts for the self-contained HTML report. */
export interface Series {
  name: string
  points: readonly (readonly [number, number])[]
}

export interface ChartSpec {
  title: string
  xLabel: string
  yLabel: string
  series: readonly Series[]
  width?: number
  height?: number
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf']

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)

/** Round axis maximum: 1, 2 or 5 times a power of ten. */
function niceMax(v: number): number {
  if (v <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  return ([1, 2, 5, 10].find((m) => m * p >= v) ?? 10) * p
}

function fmt(v: number): string {
  if (Math.abs(v) >= 1e6) return `${+(v / 1e6).toFixed(1)}M`
  if (Math.abs(v) >= 1e3) return `${+(v / 1e3).toFixed(1)}k`
  return `${+v.toFixed(1)}`
}

export function lineChart(c: ChartSpec): string {
  const w = c.width ?? 720
  const h = c.height ?? 280
  const m = { l: 60, r: 150, t: 30, b: 40 }
  const all = c.series.flatMap((s) => s.points)

  if (all.length === 0) return `<p><em>${esc(c.title)}: no data</em></p>`

  const xMin = Math.min(...all.map((p) => p[0]))
  const xMax = Math.max(xMin + 1e-9, ...all.map((p) => p[0]))
  const yMax = niceMax(Math.max(...all.map((p) => p[1])))
  const x = (v: number) => m.l + ((v - xMin) / (xMax - xMin)) * (w - m.l - m.r)
  const y = (v: number) => h - m.b - (v / yMax) * (h - m.t - m.b)
  const parts: string[] = []

  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4
    parts.push(
      `<line x1="${m.l}" x2="${w - m.r}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`,
    )
  }
  for (let i = 0; i <= 5; i++) {
    const v = xMin + ((xMax - xMin) * i) / 5
    parts.push(`<text x="${x(v)}" y="${h - m.b + 16}" text-anchor="middle">${fmt(v)}</text>`)
  }

  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]
    const d = s.points
      .map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`)
      .join('')
    const dots =
      s.points.length <= 30
        ? s.points
            .map((p) => `<circle cx="${x(p[0])}" cy="${y(p[1])}" r="3" fill="${color}"/>`)
            .join('')
        : ''
    parts.push(
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>${dots}`,
      `<rect x="${w - m.r + 12}" y="${m.t + i * 18}" width="10" height="10" fill="${color}"/>`,
      `<text x="${w - m.r + 28}" y="${m.t + i * 18 + 9}">${esc(s.name)}</text>`,
    )
  })

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${esc(c.title)}" width="${w}" height="${h}" font-family="sans-serif" font-size="11">`,
    `<title>${esc(c.title)}</title>`,
    `<text x="${m.l}" y="16" font-size="13" font-weight="bold">${esc(c.title)}</text>`,
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${h - m.b}" stroke="#333"/>`,
    `<line x1="${m.l}" x2="${w - m.r}" y1="${h - m.b}" y2="${h - m.b}" stroke="#333"/>`,
    `<text x="${(m.l + w - m.r) / 2}" y="${h - 6}" text-anchor="middle">${esc(c.xLabel)}</text>`,
    `<text transform="translate(14 ${(m.t + h - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`,
    ...parts,
    '</svg>',
  ].join('')
}
