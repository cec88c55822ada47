#!/usr/bin/env python3
"""Independent reference for the generation metric plugins, written from the papers' definitions.

    python3 tests/metrics_reference.py GENERATIONS [plugin.option=value ...]

GENERATIONS holds one continuation per line as space-separated integer ids (an empty line is an
empty continuation). Prints one `name value` line per metric value, repr() precision, `nan` where
a value is undefined. Options use the plugins' names and defaults, e.g. `self_bleu.max_n=2`.
Standard library only, so that nothing but python3 is needed; tests/metrics_crosscheck.tests.cpp
compares the plugins with this output to 1e-9.

Sources: seq_rep and uniq_seq, Welleck et al. 2020 (Neural Text Generation with Unlikelihood
Training); distinct, Li et al. 2016; rep_loop and zipf, Holtzman et al. 2020 and their code
(github.com/ari-holtzman/degen, metrics/repetition.py and metrics/zipf.py); self_bleu, Zhu et al.
2018 (Texygen) via NLTK's sentence_bleu with SmoothingFunction().method1.
"""
import math
import sys
from collections import Counter

NAN = float("nan")
DEFAULTS = {
    "seq_rep.max_n": 4,
    "distinct.max_n": 2,
    "rep_loop.max_phrase": 90,
    "rep_loop.min_repeats": 2,
    "rep_loop.min_phrase": 3,
    "rep_loop.short_repeats": 51,
    "zipf.max_ranks": 5000,
    "self_bleu.max_n": 4,
}


def ngrams(seq, n):
    return [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]


def seq_rep(conts, n):
    """Mean over continuations with an n-gram of 1 - unique/total (Welleck et al. sec. 6)."""
    scores = []
    for c in conts:
        grams = ngrams(c, n)
        if grams:
            scores.append((len(grams) - len(set(grams))) / len(grams))
    return sum(scores) / len(scores) if scores else NAN


def uniq_seq(conts):
    return float(len({t for c in conts for t in c}))


def distinct(conts, n):
    """Distinct n-grams over all n-grams of every continuation (Li et al. 2016)."""
    grams = [g for c in conts for g in ngrams(c, n)]
    return len(set(grams)) / len(grams) if grams else NAN


def tail_repeats(seq, n):
    """Back-to-back copies of the last n ids at the end of seq (degen's last_n_repeats)."""
    rev = seq[::-1]
    k = 1
    while len(rev[n * k:n * (k + 1)]) == n and rev[n * k:n * (k + 1)] == rev[:n]:
        k += 1
    return k


def ends_in_loop(seq, o):
    if not seq:
        return False
    repeats = [tail_repeats(seq, n) for n in range(1, o["rep_loop.max_phrase"] + 1)]
    best = max(range(len(repeats)), key=lambda i: repeats[i])  # first maximum: the smallest n
    r, n = repeats[best], best + 1
    return r >= o["rep_loop.min_repeats"] and (n >= o["rep_loop.min_phrase"] or r >= o["rep_loop.short_repeats"])


def rep_loop(conts, o):
    if not conts:
        return NAN
    return sum(ends_in_loop(c, o) for c in conts) / len(conts)


def zipf(conts, max_ranks):
    """-slope of the least-squares line of ln(frequency) on ln(rank), top max_ranks ranks."""
    freqs = sorted(Counter(t for c in conts for t in c).values(), reverse=True)[:max_ranks]
    if len(freqs) < 2:
        return NAN
    xs = [math.log(r) for r in range(1, len(freqs) + 1)]
    ys = [math.log(f) for f in freqs]
    mx, my = math.fsum(xs) / len(xs), math.fsum(ys) / len(ys)
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    return 0.0 - sxy / sxx


def sentence_bleu(refs, hyp, max_n):
    """NLTK's sentence_bleu, uniform weights, SmoothingFunction().method1 (epsilon 0.1)."""
    if not hyp:
        return 0.0
    logs = []
    for n in range(1, max_n + 1):
        counts = Counter(ngrams(hyp, n))
        ref_counts = [Counter(ngrams(r, n)) for r in refs]
        matched = sum(min(c, max(rc[g] for rc in ref_counts)) for g, c in counts.items())
        total = max(1, sum(counts.values()))
        if n == 1 and matched == 0:
            return 0.0
        logs.append(math.log(matched / total if matched else 0.1 / total) / max_n)
    closest = min((len(r) for r in refs), key=lambda length: (abs(length - len(hyp)), length))
    bp = 1.0 if len(hyp) > closest else math.exp(1 - closest / len(hyp))
    return bp * math.exp(math.fsum(logs))


def self_bleu(conts, max_n):
    if len(conts) < 2:
        return NAN
    scores = [sentence_bleu(conts[:i] + conts[i + 1:], h, max_n) for i, h in enumerate(conts)]
    return math.fsum(scores) / len(scores)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    o = dict(DEFAULTS)
    for arg in argv[2:]:
        key, _, value = arg.partition("=")
        if key not in o:
            sys.exit(f"unknown option {key}; known: {', '.join(o)}")
        o[key] = int(value)
    with open(argv[1], encoding="utf-8") as f:
        conts = [[int(t) for t in line.split()] for line in f.read().splitlines()]

    out = []
    out += [(f"seq_rep_{n}", seq_rep(conts, n)) for n in range(1, o["seq_rep.max_n"] + 1)]
    out += [("uniq_seq", uniq_seq(conts))]
    out += [(f"distinct_{n}", distinct(conts, n)) for n in range(1, o["distinct.max_n"] + 1)]
    out += [("rep_loop", rep_loop(conts, o))]
    out += [("zipf", zipf(conts, o["zipf.max_ranks"]))]
    out += [(f"self_bleu_{o['self_bleu.max_n']}", self_bleu(conts, o["self_bleu.max_n"]))]
    for name, value in out:
        print(name, repr(float(value)))


if __name__ == "__main__":
    main(sys.argv)
