"""Checks what a read_committed reader saw on a job's adapters topic (`bonestream tail-snapshots
--from-beginning`, one JSON line per manifest): every adapter's versions are 1..N, each exactly
once, and no input record is in two versions' lineage. With --baseline (the same from an
uninterrupted run of the same input), also whether each version's bytes are the same (the
payload's SHA-256) and by how much the losses differ where they are not.
usage: check-versions.py MANIFESTS.jsonl [--expect-versions N] [--baseline BASELINE.jsonl]
Exit code 0 when the check passes."""
import argparse
import json
import sys
from collections import defaultdict


def load(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    m = json.loads(line)
                except ValueError:
                    continue
                if "adapter_id" in m and "version" in m:
                    out.append(m)
    return out


def check(manifests, expect=None):
    problems, by_adapter = [], defaultdict(list)
    for m in manifests:
        by_adapter[m["adapter_id"]].append(m)
    lines = []
    for adapter, ms in sorted(by_adapter.items()):
        versions = [m["version"] for m in ms]
        dup = sorted({v for v in versions if versions.count(v) > 1})
        if dup:
            problems.append(f"{adapter}: versions seen twice: {dup}")
        if sorted(set(versions)) != list(range(1, max(versions) + 1)):
            problems.append(f"{adapter}: versions are not 1..{max(versions)}: {sorted(set(versions))}")
        if expect is not None and max(versions) != expect:
            problems.append(f"{adapter}: {max(versions)} versions, {expect} expected")
        seen, records = {}, 0
        for m in ms:
            for r in m.get("lineage", []):
                records += r["records"]
                key = (r["topic"], r["partition"], r["first_offset"], r["last_offset"])
                for other_key, other_version in seen.items():
                    if other_key[:2] == key[:2] and not (key[3] < other_key[2] or key[2] > other_key[3]):
                        problems.append(f"{adapter}: version {m['version']}'s records {key} overlap version {other_version}'s")
                seen[key] = m["version"]
        lines.append(f"{adapter}: versions 1..{max(versions)}, {len(ms)} manifests, {records} records in their lineage")
    return lines, problems


def digest(m):
    p = m.get("payload", {})
    return p.get("sha256")


def compare(base, run):
    b = {(m["adapter_id"], m["version"]): m for m in base}
    r = {(m["adapter_id"], m["version"]): m for m in run}
    same = differ = 0
    worst = 0.0
    for key in sorted(set(b) & set(r)):
        if digest(b[key]) is not None and digest(b[key]) == digest(r[key]):
            same += 1
        else:
            differ += 1
            lb, lr = b[key]["stats"]["last_loss"], r[key]["stats"]["last_loss"]
            worst = max(worst, abs(lb - lr) / max(abs(lb), 1e-12))
    only = len(set(b) ^ set(r))
    return (f"against the uninterrupted run: {same} versions byte for byte the same, {differ} different "
            f"(worst relative difference of their last loss {worst:.2e}), {only} in one run only")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("manifests")
    ap.add_argument("--expect-versions", type=int)
    ap.add_argument("--baseline")
    a = ap.parse_args()
    run = load(a.manifests)
    if not run:
        print("FAIL: no manifests")
        return 1
    lines, problems = check(run, a.expect_versions)
    print("\n".join(lines))
    if a.baseline:
        print(compare(load(a.baseline), run))
    for p in problems:
        print("FAIL: " + p)
    print("PASS: every version exactly once" if not problems else f"FAIL ({len(problems)})")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
