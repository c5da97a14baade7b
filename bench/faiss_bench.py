#!/usr/bin/env python3
"""FAISS (faiss-cpu) on the same synthetic vectors as bench/index-bench.ts, one thread, one query at a time.

  .venv/bin/python bench/faiss_bench.py --gallery G.f32 --queries Q.f32 --dim D [--ef 16,32,64] [--m 16] [--ef-construction 200]

Ground truth: exact inner product (numpy). Reports flat (IndexFlatIP) and HNSW (IndexHNSWFlat,
inner product) recall@1/10/100, µs per query and build seconds. Prints JSON. Never fails on a number.
"""
import argparse
import json
import time

import numpy as np


def recall(truth, got, k):
    hit = sum(len(set(t[:k]) & set(g[:k])) for t, g in zip(truth, got))
    return hit / (len(truth) * k)


def timed_search(index, q, k):
    rows = []
    t0 = time.perf_counter()
    for i in range(len(q)):
        _, I = index.search(q[i : i + 1], k)
        rows.append(I[0].tolist())
    return rows, (time.perf_counter() - t0) * 1e6 / len(q)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gallery", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--ef", default="16,24,32,48,64,96,128")
    p.add_argument("--flat-queries", type=int, default=200)
    a = p.parse_args()
    import faiss

    faiss.omp_set_num_threads(1)
    g = np.fromfile(a.gallery, dtype=np.float32).reshape(-1, a.dim)
    q = np.fromfile(a.queries, dtype=np.float32).reshape(-1, a.dim)
    truth = np.argsort(-(q @ g.T), axis=1, kind="stable")[:, :100].tolist()
    out = {"bench": "faiss", "faiss": faiss.__version__, "n": len(g), "dim": a.dim, "queries": len(q), "threads": 1}
    flat = faiss.IndexFlatIP(a.dim)
    t0 = time.perf_counter()
    flat.add(g)
    fq = min(len(q), a.flat_queries)
    rows, us = timed_search(flat, q[:fq], 10)
    out["flat"] = {"buildSeconds": round(time.perf_counter() - t0, 3), "queryMicros": round(us, 1), "recallAt10": round(recall(truth[:fq], rows, 10), 4), "queries": fq}
    hnsw = faiss.IndexHNSWFlat(a.dim, a.m, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = a.ef_construction
    t0 = time.perf_counter()
    hnsw.add(g)
    build = time.perf_counter() - t0
    res = []
    for ef in [int(x) for x in a.ef.split(",") if x]:
        hnsw.hnsw.efSearch = max(ef, 10)
        timed_search(hnsw, q[:50], 10)  # warm-up
        got10, us10 = timed_search(hnsw, q, 10)
        hnsw.hnsw.efSearch = max(ef, 100)
        got100, _ = timed_search(hnsw, q, 100)
        res.append({"ef": ef, "queryMicros": round(us10, 1), "recallAt1": round(recall(truth, [r[:1] for r in got10], 1), 4),
                    "recallAt10": round(recall(truth, got10, 10), 4), "recallAt100": round(recall(truth, got100, 100), 4)})
    # Memory: the serialized index (vectors + graph), what a saved FAISS index occupies.
    out["hnsw"] = {"m": a.m, "efConstruction": a.ef_construction, "buildSeconds": round(build, 2), "results": res,
                   "indexMiB": round(faiss.serialize_index(hnsw).nbytes / 2**20, 1)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
