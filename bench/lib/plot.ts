// Renders a latency distribution as an empirical CDF on a log-scale time axis: an SVG string built
// here, rasterised to PNG by resvg (Rust, via @resvg/resvg-js) with the DejaVu fonts of the machine.
// A CDF on a log axis shows sub-100 ms event-driven latencies and multi-second polling latencies on
// one readable chart, with p50/p95 read straight off the y axis.
import { writeFileSync } from 'node:fs'
import { Resvg } from '@resvg/resvg-js'

export interface Series {
  label: string
  /** Sample values in milliseconds (any order). */
  values: readonly number[]
  color: string
}

export interface CdfPlot {
  title: string
  subtitle?: string
  series: readonly Series[]
  /** Vertical reference lines, e.g. a target. */
  markers?: readonly { at: number; label: string }[]
}

const width = 960
const height = 560
const margin = { left: 80, right: 30, top: 70, bottom: 70 }
const plotW = width - margin.left - margin.right
const plotH = height - margin.top - margin.bottom

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

function formatMs(ms: number): string {
  if (ms >= 1000) return `${ms / 1000} s`
  return `${ms} ms`
}

export function cdfSvg(plot: CdfPlot): string {
  const all = plot.series.flatMap((s) => s.values).filter((v) => v > 0)
  const markerValues = (plot.markers ?? []).map((m) => m.at)
  const lo = Math.min(...all, ...markerValues)
  const hi = Math.max(...all, ...markerValues)
  const minExp = Math.floor(Math.log10(lo > 0 ? lo : 1))
  const maxExp = Math.ceil(Math.log10(hi > 0 ? hi : 10))
  const span = Math.max(1, maxExp - minExp)
  const x = (v: number): number =>
    margin.left + ((Math.log10(Math.max(v, 10 ** minExp)) - minExp) / span) * plotW
  const y = (p: number): number => margin.top + (1 - p) * plotH

  const parts: string[] = []
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans" font-size="13">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="28" text-anchor="middle" font-size="18" font-weight="bold">${esc(plot.title)}</text>`,
  )
  if (plot.subtitle) {
    parts.push(
      `<text x="${width / 2}" y="50" text-anchor="middle" fill="#555">${esc(plot.subtitle)}</text>`,
    )
  }
  // Grid: decades and 2x/5x ticks on x, tenths on y.
  for (let e = minExp; e <= maxExp; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e
      if (v < 10 ** minExp || v > 10 ** maxExp) continue
      const gx = x(v)
      parts.push(
        `<line x1="${gx}" y1="${margin.top}" x2="${gx}" y2="${margin.top + plotH}" stroke="${m === 1 ? '#ccc' : '#eee'}"/>`,
        `<text x="${gx}" y="${margin.top + plotH + 20}" text-anchor="middle" fill="#333">${esc(formatMs(v))}</text>`,
      )
    }
  }
  for (let i = 0; i <= 10; i++) {
    const gy = y(i / 10)
    parts.push(
      `<line x1="${margin.left}" y1="${gy}" x2="${margin.left + plotW}" y2="${gy}" stroke="${i % 5 === 0 ? '#ccc' : '#eee'}"/>`,
      `<text x="${margin.left - 8}" y="${gy + 4}" text-anchor="end" fill="#333">${i * 10}%</text>`,
    )
  }
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${margin.left + plotW / 2}" y="${height - 22}" text-anchor="middle">detection latency (log scale)</text>`,
    `<text transform="translate(22 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">events detected within latency</text>`,
  )
  for (const m of plot.markers ?? []) {
    const mx = x(m.at)
    parts.push(
      `<line x1="${mx}" y1="${margin.top}" x2="${mx}" y2="${margin.top + plotH}" stroke="#c00" stroke-dasharray="6 4"/>`,
      `<text x="${mx + 4}" y="${margin.top + 14}" fill="#c00">${esc(m.label)}</text>`,
    )
  }
  // Step CDFs, then the legend on top of them (bottom right).
  for (const s of plot.series) {
    const sorted = [...s.values].sort((a, b) => a - b)
    if (sorted.length === 0) continue
    let d = `M ${x(sorted[0]!)} ${y(0)}`
    sorted.forEach((v, i) => {
      d += ` L ${x(v)} ${y(i / sorted.length)} L ${x(v)} ${y((i + 1) / sorted.length)}`
    })
    d += ` L ${margin.left + plotW} ${y(1)}`
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.2"/>`)
  }
  const legendH = plot.series.length * 20 + 10
  const lx = margin.left + plotW - 390
  const ly0 = margin.top + plotH - 14 - legendH
  parts.push(
    `<rect x="${lx}" y="${ly0}" width="380" height="${legendH}" fill="#fff" stroke="#bbb"/>`,
  )
  plot.series.forEach((s, idx) => {
    const ly = ly0 + 22 + idx * 20
    parts.push(
      `<line x1="${lx + 10}" y1="${ly - 4}" x2="${lx + 34}" y2="${ly - 4}" stroke="${s.color}" stroke-width="3"/>`,
      `<text x="${lx + 40}" y="${ly}" fill="#222">${esc(`${s.label} (n=${s.values.length})`)}</text>`,
    )
  })
  parts.push('</svg>')
  return parts.join('\n')
}

/** Writes the PNG (and the SVG it was rendered from, when `svgPath` is given); returns pngPath. */
export function writeCdfPlot(plot: CdfPlot, pngPath: string, svgPath?: string): string {
  const svg = cdfSvg(plot)
  if (svgPath !== undefined) writeFileSync(svgPath, svg)
  const png = new Resvg(svg, {
    background: '#ffffff',
    fitTo: { mode: 'width', value: width },
    font: {
      loadSystemFonts: false,
      fontDirs: ['/usr/share/fonts'],
      defaultFontFamily: 'DejaVu Sans',
    },
  })
    .render()
    .asPng()
  writeFileSync(pngPath, png)
  return pngPath
}
