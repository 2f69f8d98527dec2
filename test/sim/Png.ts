/**
 * Just enough PNG for the report's screenshot test: 8-bit RGB or RGBA, not interlaced (what
 * Chromium's screenshots are), decoded to RGBA pixels with node:zlib. Anything else throws.
 */
import { inflateSync } from "node:zlib"

export interface Pixels {
  readonly width: number
  readonly height: number
  /** RGBA, row by row. */
  readonly rgba: Uint8Array
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

const paeth = (a: number, b: number, c: number): number => {
  const p = a + b - c
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)]
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
}

export const decodePng = (png: Uint8Array): Pixels => {
  const buf = Buffer.from(png)
  if (!buf.subarray(0, 8).equals(SIGNATURE)) throw new Error("not a PNG")
  let at = 8
  let width = 0
  let height = 0
  let channels = 0
  const idat: Array<Buffer> = []
  while (at < buf.length) {
    const length = buf.readUInt32BE(at)
    const type = buf.toString("latin1", at + 4, at + 8)
    const data = buf.subarray(at + 8, at + 8 + length)
    if (type === "IHDR") {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      const [depth, colourType, , , interlace] = [data[8], data[9], data[10], data[11], data[12]]
      if (depth !== 8 || interlace !== 0 || (colourType !== 2 && colourType !== 6)) {
        throw new Error(`PNG: only 8-bit RGB/RGBA, not interlaced (depth ${depth}, colour type ${colourType}, interlace ${interlace})`)
      }
      channels = colourType === 6 ? 4 : 3
    } else if (type === "IDAT") idat.push(data)
    else if (type === "IEND") break
    at += 12 + length
  }
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * channels
  const out = new Uint8Array(width * height * 4)
  let previous = new Uint8Array(stride)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1))
    const row = new Uint8Array(stride)
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? row[i - channels]! : 0
      const b = previous[i]!
      const c = i >= channels ? previous[i - channels]! : 0
      const x = line[i]!
      row[i] = (filter === 0 ? x : filter === 1 ? x + a : filter === 2 ? x + b : filter === 3 ? x + ((a + b) >> 1) : filter === 4 ? x + paeth(a, b, c) : NaN) & 0xff
      if (filter > 4) throw new Error(`PNG: unknown filter ${filter} on row ${y}`)
    }
    for (let px = 0; px < width; px++) {
      const o = (y * width + px) * 4
      out[o] = row[px * channels]!
      out[o + 1] = row[px * channels + 1]!
      out[o + 2] = row[px * channels + 2]!
      out[o + 3] = channels === 4 ? row[px * channels + 3]! : 255
    }
    previous = row
  }
  return { width, height, rgba: out }
}

/** How many pixels are within `tolerance` (per channel) of the colour `#rrggbb`. */
export const pixelsNear = (p: Pixels, hex: string, tolerance = 24): number => {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex)
  if (m === null) throw new Error(`not a #rrggbb colour: ${hex}`)
  const [r, g, b] = [m[1]!, m[2]!, m[3]!].map((h) => parseInt(h, 16)) as [number, number, number]
  let n = 0
  for (let i = 0; i < p.rgba.length; i += 4) {
    if (Math.abs(p.rgba[i]! - r) <= tolerance && Math.abs(p.rgba[i + 1]! - g) <= tolerance && Math.abs(p.rgba[i + 2]! - b) <= tolerance) n++
  }
  return n
}

/** How many distinct colours the picture has, other than `background` (#rrggbb, exact). */
export const distinctColours = (p: Pixels, background = "#ffffff"): number => {
  const bg = parseInt(background.slice(1), 16)
  const seen = new Set<number>()
  for (let i = 0; i < p.rgba.length; i += 4) {
    const c = (p.rgba[i]! << 16) | (p.rgba[i + 1]! << 8) | p.rgba[i + 2]!
    if (c !== bg) seen.add(c)
  }
  return seen.size
}
