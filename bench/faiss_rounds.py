#!/usr/bin/env python3
"""FAISS HNSW as a timing peer of bench/hnsw-faiss-bench.ts: one process that keeps the index and answers
commands on stdin (one JSON line each) with one JSON line on stdout, so that the TypeScript side
can time PoisonLens's HNSW and FAISS's in alternating rounds inside one section.

  .venv/bin/python bench/faiss_rounds.py --gallery G.f32 --queries Q.f32 --dim D [--m 16] [--ef-construction 200]

Commands: {"op": "recall", "ef": E} -> recall@10 over every query (exact truth from numpy);
{"op": "time", "ef": E, "queries": N, "warmup": W} -> microseconds per query, one query at a time,
one thread; {"op": "quit"}. The first line out reports the build.
"""
import argparse
import json
import sys
import time

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gallery", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    a = p.parse_args()
    import faiss

    faiss.omp_set_num_threads(1)
    g = np.fromfile(a.gallery, dtype=np.float32).reshape(-1, a.dim)
    q = np.fromfile(a.queries, dtype=np.float32).reshape(-1, a.dim)
    truth = np.argsort(-(q @ g.T), axis=1, kind="stable")[:, :10]
    index = faiss.IndexHNSWFlat(a.dim, a.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = a.ef_construction
    t0 = time.perf_counter()
    index.add(g)
    build = time.perf_counter() - t0
    out = sys.stdout
    out.write(json.dumps({"ready": True, "faiss": faiss.__version__, "n": len(g), "dim": a.dim, "buildSeconds": round(build, 2)}) + "\n")
    out.flush()
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd.get("op")
        if op == "quit":
            break
        index.hnsw.efSearch = max(int(cmd["ef"]), 10)
        if op == "recall":
            hit = 0
            for i in range(len(q)):
                _, ids = index.search(q[i : i + 1], 10)
                hit += len(set(ids[0].tolist()) & set(truth[i].tolist()))
            out.write(json.dumps({"recallAt10": hit / (len(q) * 10)}) + "\n")
        elif op == "time":
            n = min(int(cmd["queries"]), len(q))
            for i in range(min(int(cmd.get("warmup", 50)), n)):
                index.search(q[i : i + 1], 10)
            t0 = time.perf_counter()
            for i in range(n):
                index.search(q[i : i + 1], 10)
            out.write(json.dumps({"queryMicros": (time.perf_counter() - t0) * 1e6 / n}) + "\n")
        else:
            out.write(json.dumps({"error": f"unknown op {op}"}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
