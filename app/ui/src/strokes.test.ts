import { describe, expect, it } from 'vitest';
import { StrokeRecorder } from './strokes';

describe('StrokeRecorder', () => {
  it('records strokes with time from the first touch and pressure from fingers and pens', () => {
    const r = new StrokeRecorder(300, 200);
    r.down({ x: 10, y: 10, timeStamp: 1000, pressure: 0.4, pointerType: 'touch' });
    r.move({ x: 20, y: 15, timeStamp: 1016, pressure: 0.6, pointerType: 'touch' });
    r.up();
    r.down({ x: 50, y: 50, timeStamp: 1200, pressure: 0.5, pointerType: 'mouse' });
    r.move({ x: 60, y: 55, timeStamp: 1216, pressure: 0.5, pointerType: 'mouse' });
    r.up();
    const s = r.toStrokes();
    expect(s.width).toBe(300);
    expect(s.strokes).toHaveLength(2);
    expect(s.strokes[0]).toEqual([{ x: 10, y: 10, t: 0, p: 0.4 }, { x: 20, y: 15, t: 16, p: 0.6 }]);
    // A mouse's fixed 0.5 is not a measured pressure.
    expect(s.strokes[1][0]).toEqual({ x: 50, y: 50, t: 200 });
  });

  it('clamps points to the pad and drops repeated points', () => {
    const r = new StrokeRecorder(100, 100);
    r.down({ x: -5, y: 150, timeStamp: 0 });
    expect(r.move({ x: -9, y: 160, timeStamp: 5 })).toBe(false);
    expect(r.move({ x: 50, y: 50, timeStamp: 10 })).toBe(true);
    expect(r.toStrokes().strokes[0]).toEqual([{ x: 0, y: 100, t: 0 }, { x: 50, y: 50, t: 10 }]);
  });

  it('a tap is not a signature; clearing starts over', () => {
    const r = new StrokeRecorder(100, 100);
    r.down({ x: 1, y: 1, timeStamp: 0 });
    r.up();
    expect(r.plausible).toBe(false);
    for (let i = 0; i < 10; i++) r.move({ x: i, y: i, timeStamp: i });
    expect(r.pointCount).toBe(1);
    r.down({ x: 0, y: 0, timeStamp: 20 });
    for (let i = 1; i < 10; i++) r.move({ x: i * 5, y: i * 3, timeStamp: 20 + i * 8 });
    expect(r.plausible).toBe(true);
    r.clear();
    expect(r.pointCount).toBe(0);
    expect(r.toStrokes().strokes).toEqual([]);
  });

  it('moves without a touch down draw nothing', () => {
    const r = new StrokeRecorder(100, 100);
    expect(r.move({ x: 5, y: 5, timeStamp: 1 })).toBe(false);
    expect(r.pointCount).toBe(0);
  });
});
