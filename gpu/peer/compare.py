"""bonestream against the PEFT peer, from the JSON lines of one run: `bonestream bench` lines
(impl bonestream-cuda) and bench_peft_gpu.py lines (impl torch-..., one per mode). For each shape
(config, batch, seq) and method: bonestream's tokens/s and peak, each peer mode's, the fastest mode
(the peer to beat), the ratio against it and the targets (bone >= 1.5x, bat >= 2x the fastest mode's
tokens/s; peak memory <= that mode's). Prints a markdown table.
usage: compare.py FILE [FILE ...]   (lines that are not JSON objects are skipped)"""
import json
import os
import sys

TARGET = {"bone": 1.5, "bat": 2.0}


def rows(paths):
    for path in paths:
        if not os.path.isfile(path):  # a step that did not run (a pattern that matched nothing)
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        yield json.loads(line)
                    except ValueError:
                        pass


def table(records):
    ours, peer = {}, {}
    for r in records:
        if "config" not in r or "method" not in r:
            continue
        impl = str(r.get("impl", ""))
        if impl.startswith("bonestream"):
            key = (r["config"], r.get("batch"), r.get("seq"), r["method"])
            ours[key] = r
        elif impl.startswith("torch") or "mode" in r:
            key = (r["config"], r.get("batch"), r.get("seq"), r["method"])
            peer.setdefault(key, []).append(r)
    out = ["| shape | method | bonestream tokens/s | peak GiB | fastest PEFT mode | tokens/s | peak GiB | ratio | target | "
           "every mode (tokens/s, peak GiB) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(set(ours) | set(peer), key=lambda k: (str(k[0]), k[1] or 0, k[2] or 0, k[3])):
        config, batch, seq, method = key
        mine = ours.get(key)
        modes = peer.get(key, [])
        done = [m for m in modes if "tokens_per_s" in m]
        best = max(done, key=lambda m: m["tokens_per_s"]) if done else None
        every = ", ".join(f"{m.get('mode', '?')} " + (f"{m['tokens_per_s']:,} / {m.get('peak_gib')}" if "tokens_per_s" in m
                          else "error: " + str(m.get("error", "?"))[:60]) for m in modes) or "not run"
        if mine is None or "tokens_per_s" not in mine:
            ours_text, peak_text = ("error: " + str(mine.get("error"))[:60] if mine else "not run"), ""
        else:
            ours_text, peak_text = f"{mine['tokens_per_s']:,}", f"{mine.get('peak_gib')}"
        ratio = target = ""
        if best and mine and "tokens_per_s" in mine:
            x = mine["tokens_per_s"] / best["tokens_per_s"]
            ratio = f"{x:.2f}x"
            goal = TARGET.get(method)
            if goal:
                speed = "met" if x >= goal else "NOT met"
                memory = "peak met" if mine.get("peak_gib", 1e9) <= best.get("peak_gib", 0) else "peak NOT met"
                target = f">= {goal}x: {speed}; {memory}"
        shape = f"{config}, {batch}x{seq}"
        out.append(f"| {shape} | {method} | {ours_text} | {peak_text} | {best.get('mode') if best else '-'} | "
                   f"{best['tokens_per_s']:,} | {best.get('peak_gib')} | {ratio} | {target} | {every} |" if best else
                   f"| {shape} | {method} | {ours_text} | {peak_text} | - | - | - | - | - | {every} |")
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(table(list(rows(sys.argv[1:]))))
