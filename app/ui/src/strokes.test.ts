import { describe, expect, it } from 'vitest';
import { INK, StrokeRecorder, padPoint, strokeOutline } from './strokes';

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

describe('the pad in landscape', () => {
  it('maps a pointer on a pad turned for landscape to the pad\'s own pixels', () => {
    // A portrait screen 400 wide: the pad fills it turned 90° clockwise.
    const rect = { left: 0, top: 0, right: 400, bottom: 820 };
    // The pad's top-left corner is the screen's top right...
    expect(padPoint(400, 0, rect, true)).toEqual({ x: 0, y: 0 });
    // ...its x axis runs down the screen, its y axis to the left.
    expect(padPoint(400, 500, rect, true)).toEqual({ x: 500, y: 0 });
    expect(padPoint(100, 0, rect, true)).toEqual({ x: 0, y: 300 });
    expect(padPoint(0, 820, rect, true)).toEqual({ x: 820, y: 400 });
    // Not turned: the screen's offsets from the pad's corner.
    expect(padPoint(30, 40, { left: 10, top: 20, right: 310, bottom: 220 }, false)).toEqual({ x: 20, y: 20 });
  });

  it('draws a smoothed closed outline around the recorded points and never changes them', () => {
    const points = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ x: 20 + i * 15, y: 50 + 10 * Math.sin(i), t: i * 16 }));
    const before = JSON.stringify(points);
    const d = strokeOutline(points, true);
    expect(d).toMatch(/^M[\d.]+,[\d.]+Q.*Z$/);
    expect(JSON.stringify(points)).toBe(before);
    // The outline stays around the ink: within the pen's size of the points.
    const numbers = d.replace(/[MQZ]/g, ' ').trim().split(/[\s,]+/).map(Number);
    const xs = numbers.filter((_, i) => i % 2 === 0);
    expect(Math.min(...xs)).toBeGreaterThan(20 - INK.size * 2);
    expect(Math.max(...xs)).toBeLessThan(125 + INK.size * 2);
    // Measured pressure makes a thicker line than a light touch.
    const width = (p: number) => {
      const ys = strokeOutline(points.map((q) => ({ ...q, p })), true)
        .replace(/[MQZ]/g, ' ').trim().split(/[\s,]+/).map(Number).filter((_, i) => i % 2 === 1);
      return Math.max(...ys) - Math.min(...ys);
    };
    expect(width(1)).toBeGreaterThan(width(0.1));
    expect(strokeOutline([], true)).toBe('');
  });
});
