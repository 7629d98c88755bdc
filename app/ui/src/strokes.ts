// Records a signature as strokes of points with time and pressure, in the
// shape the core's `Strokes` deserialises: {width, height, strokes: [[{x, y, t, p}]]}.
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
