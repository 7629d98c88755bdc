// Records a signature as strokes of points with time and pressure, in the
// shape the core's `Strokes` deserialises: {width, height, strokes: [[{x, y, t, p}]]}.
import { getStroke } from 'perfect-freehand';
import type { Point, Strokes } from './api';

export interface PointerSample { x: number; y: number; timeStamp: number; pressure?: number; pointerType?: string }

export class StrokeRecorder {
  private strokes: Point[][] = [];
  private current: Point[] | null = null;
  private origin: number | null = null;

  constructor(public width: number, public height: number) {}

  private point(s: PointerSample): Point {
    if (this.origin === null) this.origin = s.timeStamp;
    const x = Math.max(0, Math.min(this.width, s.x));
    const y = Math.max(0, Math.min(this.height, s.y));
    const t = Math.max(0, Math.round(s.timeStamp - this.origin));
    const point: Point = { x: Math.round(x * 10) / 10, y: Math.round(y * 10) / 10, t };
    // A mouse reports a fixed 0.5 while pressed: only pens and fingers measure pressure.
    if (s.pointerType && s.pointerType !== 'mouse' && s.pressure !== undefined && s.pressure > 0) {
      point.p = Math.round(s.pressure * 1000) / 1000;
    }
    return point;
  }

  down(s: PointerSample): void {
    this.current = [this.point(s)];
    this.strokes.push(this.current);
  }

  move(s: PointerSample): boolean {
    if (!this.current) return false;
    const p = this.point(s);
    const last = this.current[this.current.length - 1];
    if (last && last.x === p.x && last.y === p.y) return false;
    this.current.push(p);
    return true;
  }

  up(s?: PointerSample): void {
    if (this.current && s) this.move(s);
    this.current = null;
  }

  clear(): void {
    this.strokes = [];
    this.current = null;
    this.origin = null;
  }

  get pointCount(): number {
    return this.strokes.reduce((n, s) => n + s.length, 0);
  }

  /** Enough ink to count as a signature (not a tap). */
  get plausible(): boolean {
    return this.pointCount >= 8;
  }

  toStrokes(): Strokes {
    return { width: this.width, height: this.height, strokes: this.strokes.map((s) => s.map((p) => ({ ...p }))) };
  }
}

/** A pad's place on the screen, as `getBoundingClientRect` gives it. */
export interface PadRect { left: number; top: number; right: number; bottom: number }

/**
 * Where a pointer at (`clientX`, `clientY`) is on the pad, in the pad's own
 * pixels. A `rotated` pad is turned 90° clockwise on a portrait screen (the
 * merchant turns the phone to sign in landscape): its top-left corner is at
 * the screen's top right, its x axis runs down the screen, its y axis to
 * the left.
 */
export function padPoint(clientX: number, clientY: number, rect: PadRect, rotated: boolean): { x: number; y: number } {
  if (rotated) return { x: clientY - rect.top, y: rect.right - clientX };
  return { x: clientX - rect.left, y: clientY - rect.top };
}

/** How the pad draws ink: perfect-freehand's outline of a stroke. */
export const INK = { size: 5, thinning: 0.55, smoothing: 0.6, streamline: 0.45 };

/**
 * The outline of one stroke as SVG path data: a smoothed, tapered shape
 * whose width follows the recorded pressure (or, without one, the speed),
 * by perfect-freehand; quadratic curves through the outline's midpoints.
 * The points drawn are exactly the points recorded: smoothing is in the
 * drawing only, never in the strokes the core keeps.
 */
export function strokeOutline(points: Point[], complete: boolean): string {
  if (points.length === 0) return '';
  const measured = points.some((p) => p.p !== undefined);
  const input = points.map((p) => [p.x, p.y, p.p ?? 0.5]);
  const outline = getStroke(input, { ...INK, simulatePressure: !measured, last: complete });
  if (outline.length < 3) return '';
  const fixed = (n: number) => Math.round(n * 100) / 100;
  const [first, ...rest] = outline;
  let d = `M${fixed(first[0])},${fixed(first[1])}Q`;
  for (let i = 0; i < rest.length; i++) {
    const [x0, y0] = outline[i];
    const [x1, y1] = outline[(i + 1) % outline.length];
    d += `${fixed(x0)},${fixed(y0)} ${fixed((x0 + x1) / 2)},${fixed((y0 + y1) / 2)} `;
  }
  return `${d.trimEnd()}Z`;
}

