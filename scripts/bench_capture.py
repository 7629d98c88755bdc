"""Side-by-side capture figures: Posfield's Rust decoder and normalizer
against zxing-cpp and libvips (pyvips) on the same files.

Reads the JSON lines printed by the `capture` bench and times the reference
libraries on each file it names."""

import json
import statistics
import sys
import time

import pyvips
import zxingcpp
from PIL import Image


def timed(fn, runs=3):
    samples, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result


def zxing_decode(path):
    image = Image.open(path)
    if image.mode in ("RGBA", "LA", "P"):
        # Transparent pixels count as white paper, as in Posfield's decoder.
        image = image.convert("RGBA")
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        paper.alpha_composite(image)
        image = paper.convert("RGB")
    image.load()
    return zxingcpp.read_barcodes(image)


def main(lines_path, out_dir):
    rows = [json.loads(line) for line in open(lines_path, encoding="utf-8") if line.startswith("{")]
    for set_name in ("testdata", "labels"):
        ours = [r for r in rows if r["set"] == set_name]
        theirs_ok, theirs_ms = 0, []
        for row in ours:
            expected = row.get("expected")
            if expected is None:
                # newline="" keeps the CRLF some expected texts hold.
                expected = open(row["file"].rsplit(".", 1)[0] + ".txt", encoding="utf-8", newline="").read()
            ms, symbols = timed(lambda: zxing_decode(row["file"]))
            theirs_ms.append(ms)
            theirs_ok += any(s.text == expected for s in symbols)
        print(f"{set_name:9} posfield: {sum(r['ok'] for r in ours)}/{len(ours)} decoded, "
              f"median {statistics.median(r['ms'] for r in ours):.1f} ms | "
              f"zxing-cpp: "
              f"{theirs_ok}/{len(ours)} decoded, median {statistics.median(theirs_ms):.1f} ms")
    for set_name in ("harder", "extreme"):
        ours = [r for r in rows if r["set"] == set_name]
        summary = next(r for r in rows if r["set"] == f"{set_name}-summary")
        # The reference reads the same files; the serial is found when its
        # code's text is among the symbols zxing-cpp returns (it has no way to
        # tell the serial from the part number: that count is its ceiling).
        found_by_zxing, zxing_ms = 0, []
        for row in ours:
            ms, symbols = timed(lambda: zxing_decode(row["file"]), runs=1)
            zxing_ms.append(ms)
            found_by_zxing += any(s.text == row["expected"] for s in symbols)
        full, phone = summary["full_speed"], summary["phone_pace"]
        print(f"{set_name:9} posfield ({full['total']} photos, one core): sure and right {full['sure_right']}, "
              f"sure and wrong {full['sure_wrong']}, unsure {full['unsure']} "
              f"(right one offered in {full['unsure_offered']}), not read {full['not_read']}; "
              f"median {summary['median_ms']:.0f} ms, p95 {summary['p95_ms']:.0f} ms, max {summary['max_ms']:.0f} ms")
        print(f"{'':9} at a phone's pace ({summary['phone_slowdown']}x slower, the safety net that much sooner): "
              f"sure and right {phone['sure_right']}, unsure {phone['unsure']}, not read {phone['not_read']}, "
              f"stopped by the safety net {phone['capped']}")
        print(f"{'':9} zxing-cpp: serial among the symbols in {found_by_zxing}/{len(ours)}, "
              f"median {statistics.median(zxing_ms):.0f} ms")
    photo = next(r for r in rows if r["set"] == "photo")
    out = f"{out_dir}/vips-thumbnail.jpg"
    ms, _ = timed(lambda: pyvips.Image.thumbnail(photo["file"], 1600).jpegsave(out, Q=80, strip=True))
    import os
    vips_bytes = os.path.getsize(out)
    print(f"photo     posfield: {photo['ms']:.1f} ms, {photo['bytes']} bytes | "
          f"libvips thumbnail: {ms:.1f} ms, {vips_bytes} bytes | time ratio {photo['ms'] / ms:.2f}, "
          f"size ratio {photo['bytes'] / vips_bytes:.2f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
