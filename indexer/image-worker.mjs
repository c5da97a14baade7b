// The image graph in a worker thread, so that the indexer's main thread can decode and
// preprocess the next batch while this one encodes (onnxruntime-node's `run` occupies the
// thread that calls it). Plain JavaScript: a worker does not inherit tsx's loader.
//
// workerData: {modelPath, threads, size}. Messages in: {type:'encode', id, n, buffer} (float32
// [n,3,S,S], transferred) and {type:'close'}. Messages out: {type:'ready'}, {type:'result', id,
// buffer} (float32 [n,D] raw embeddings, transferred), {type:'error', id, message}.
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

const { modelPath, threads, size, spinning } = workerData;
let session;
try {
  session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    ...(spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
  });
  parentPort.postMessage({ type: 'ready' });
} catch (err) {
  parentPort.postMessage({ type: 'error', id: -1, message: String(err && err.message ? err.message : err) });
}

parentPort.on('message', async (m) => {
  if (m.type === 'close') {
    if (session) await session.release();
    parentPort.close();
    return;
  }
  try {
    const pixels = new Float32Array(m.buffer);
    const out = await session.run({ pixel_values: new ort.Tensor('float32', pixels, [m.n, 3, size, size]) });
    const data = new Float32Array(out.image_embeds.data);
    parentPort.postMessage({ type: 'result', id: m.id, buffer: data.buffer }, [data.buffer]);
  } catch (err) {
    parentPort.postMessage({ type: 'error', id: m.id, message: String(err && err.message ? err.message : err) });
  }
});
