#!/usr/bin/env python3
"""Scores `wangge match` output of `wangge generate declared` records against their truth.

usage: score.py matched.csv [--threshold T]

Precision: the matched house is the true one, among the matched records. Recall: matched to
the true house, among the records whose room is in the base. Below the run's threshold the
nearest candidate (the first of the `candidates` column) stands for the record's best house,
so the table covers lower thresholds too. One figure a line.
"""
import argparse
import csv
import sys

BINS = 1001
KINDS = ["clean", "typo", "numerals", "variant", "missing", "order", "extra"]


def bin_of(confidence):
    return min(BINS - 1, max(0, int(confidence * 1000 + 1e-9)))


class Tally:
    def __init__(self):
        self.records = 0
        self.present = 0
        self.right = [0] * BINS
        self.wrong = [0] * BINS

    def at(self, threshold):
        b = bin_of(threshold)
        right = sum(self.right[b:])
        return right + sum(self.wrong[b:]), right

    def precision(self, t):
        matched, right = self.at(t)
        return right / max(matched, 1)

    def recall(self, t):
        return self.at(t)[1] / max(self.present, 1)


def pct(x):
    return f"{100 * x:.2f} %"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("matched")
    ap.add_argument("--threshold", type=float, default=0.8)
    a = ap.parse_args()
    csv.field_size_limit(1 << 24)
    groups = {g: Tally() for g in ["all", *KINDS, "absent"]}
    dup_true = dup_found = dup_right = 0
    with open(a.matched, encoding="utf-8-sig", newline="") as f:
        rows = csv.DictReader(f)
        has_dedup = "duplicate_of" in (rows.fieldnames or [])
        for r in rows:
            truth = r["true_house_code"]
            best = r["house_code"] or (r["candidates"].split(" ", 1)[0] if r["candidates"] else "")
            conf = float(r["confidence"] or 0)
            kinds = r["noise"].split("+")
            names = ["all", *[k for k in kinds if k in groups]]
            if not truth:
                names.append("absent")
            b = bin_of(conf)
            for g in names:
                t = groups[g]
                t.records += 1
                t.present += 1 if truth else 0
                if best:
                    if best == truth:
                        t.right[b] += 1
                    else:
                        t.wrong[b] += 1
            if has_dedup:
                dup_true += 1 if r["true_duplicate_of"] else 0
                if r["duplicate_of"]:
                    dup_found += 1
                    dup_right += 1 if r["duplicate_of"] == r["true_duplicate_of"] else 0
    t = a.threshold
    al = groups["all"]
    absent = groups["absent"]
    print(f"records scored: {al.records}")
    print(f"threshold: {t:.2f}")
    print(f"precision (top-1 correct among matched): {pct(al.precision(t))}")
    print(f"recall (matched to the true house, among rooms in the base): {pct(al.recall(t))}")
    print(f"matched: {pct(al.at(t)[0] / max(al.records, 1))}")
    print(f"rooms not in the base matched anyway: {absent.at(t)[0]} of {absent.records}")
    print("by threshold: threshold, matched, precision, recall")
    for k in range(10):
        th = 0.5 + 0.05 * k
        print(f"  {th:.2f}  {pct(al.at(th)[0] / max(al.records, 1)):>8}  "
              f"{pct(al.precision(th)):>8}  {pct(al.recall(th)):>8}")
    print(f"by noise kind at {t:.2f}: kind, records, precision, recall")
    for k in KINDS:
        g = groups[k]
        print(f"  {k:<9} {g.records:>9}  {pct(g.precision(t)):>8}  {pct(g.recall(t)):>8}")
    if has_dedup:
        print(f"de-duplication: {dup_right} of {dup_true} re-declarations found, "
              f"{dup_found - dup_right} wrongly")


if __name__ == "__main__":
    sys.exit(main())
