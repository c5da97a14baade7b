"""Reference image preprocessing (and embeddings) from the training engine, for parity tests.

stdin: {"paths": [...], "size": S, "mean": [3], "std": [3], "imageOnnx": PATH | null, "extraSizes": [S2, ...]}
stdout: {"pixels": base64 float32 [N,3,S,S], "embeds": base64 float32 [N,D] | null, "dim": D,
         "extra": {"S2": base64 float32 [N,3,S2,S2], ...}}
Pixels come from poisonlens_engine.data (load_image + Normalize), exactly what training sees;
embeddings from the package's image.onnx run by Python's onnxruntime on those pixels.
"""
import base64
import json
import os
import sys

import numpy as np

ENGINE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "trainer", "engine")
sys.path.insert(0, os.path.abspath(ENGINE))

from poisonlens_engine import data as D  # noqa: E402

req = json.load(sys.stdin)
arr = np.stack([D.load_image(p, req["size"]) for p in req["paths"]])
norm = D.Normalize(req["mean"], req["std"])
pixels = norm(norm.to_float(arr)).contiguous().numpy().astype(np.float32)
embeds = None
dim = None
if req.get("imageOnnx"):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(req["imageOnnx"], opts, providers=["CPUExecutionProvider"])
    e = sess.run(None, {"pixel_values": pixels})[0].astype(np.float32)
    dim = e.shape[1]
    embeds = base64.b64encode(e.tobytes()).decode()
extra = {}
for s2 in req.get("extraSizes", []):
    a2 = np.stack([D.load_image(p, s2) for p in req["paths"]])
    extra[str(s2)] = base64.b64encode(norm(norm.to_float(a2)).contiguous().numpy().astype(np.float32).tobytes()).decode()
json.dump({"pixels": base64.b64encode(pixels.tobytes()).decode(), "embeds": embeds, "dim": dim, "extra": extra}, sys.stdout)
