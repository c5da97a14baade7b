// A model package's ONNX graphs in a worker thread (threaded-encoder.ts): onnxruntime-node creates
// a session synchronously on the thread that asks for it (hundreds of milliseconds for a CLIP
// graph) and runs it synchronously too, so the server opens and runs its encoders here to keep
// its event loop answering requests meanwhile (a hot swap no longer stalls the searches in
// flight). Plain JavaScript: a worker does not inherit tsx's loader.
//
// workerData: {textOnnx, imageOnnx, threads, spinning, contextLength, size, dim}. The text session
// is created at start and probed with one row (its width must be `dim`); the image session on the
// first image request (the server rarely needs it). Messages in: {type:'text', id, n, len, buffer}
// (int64 [n, len], len < contextLength only where the graph's sequence axis is free, transferred),
// {type:'image', id, n, buffer} (float32 [n,3,S,S], transferred), {type:'close'}. Messages out:
// {type:'ready', seqFree}, {type:'result', id, buffer} (float32 [n, dim], L2-normalised,
// transferred), {type:'error', id, message, bad?} (id -1: the text graph failed to load; bad: the
// graph itself is at fault).
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

const { textOnnx, imageOnnx, threads, spinning, contextLength, size, dim } = workerData;
const options = {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  ...(spinning ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
};

function message(err) {
  return String(err && err.message ? err.message : err).split('\n')[0];
}

class BadGraph extends Error {}

async function open(path, input, output) {
  let s;
  try {
    s = await ort.InferenceSession.create(path, options);
  } catch (err) {
    throw new BadGraph(`cannot load ${path}: ${message(err)}`);
  }
  if (!s.inputNames.includes(input) || !s.outputNames.includes(output)) {
    await s.release();
    throw new BadGraph(`${path} has inputs [${s.inputNames}] and outputs [${s.outputNames}]; expected ${input} → ${output}`);
  }
  return s;
}

// encoder.ts's l2NormalizeRows, restated: this plain-JavaScript worker cannot import ./dot.ts,
// so the sum of squares is written out in the same order as its `dot` (bit-equal vectors).
function normalise(m) {
  for (let off = 0; off < m.length; off += dim) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += m[off + j] * m[off + j];
    if (s > 0) {
      const inv = 1 / Math.sqrt(s);
      for (let j = 0; j < dim; j++) m[off + j] *= inv;
    }
  }
  return m;
}

async function run(session, feeds, key, n) {
  const out = await session.run(feeds);
  const t = out[key];
  const data = new Float32Array(t.data);
  t.dispose?.();
  if (data.length !== n * dim) throw new BadGraph(`${key} has ${data.length / n} numbers per row, model.json says embedDim ${dim}`);
  return normalise(data);
}

let text = null;
let image = null;
try {
  text = await open(textOnnx, 'input_ids', 'text_embeds');
  // One row: the graph's output width must be model.json's embedDim.
  const ids = new BigInt64Array(contextLength);
  ids[0] = 49406n;
  ids[1] = 49407n;
  await run(text, { input_ids: new ort.Tensor('int64', ids, [1, contextLength]) }, 'text_embeds', 1);
  // encoder.ts's freeSequenceAxis, restated: a named sequence axis lets the caller cut padding.
  const ids0 = text.inputMetadata.find((x) => x.name === 'input_ids');
  parentPort.postMessage({ type: 'ready', seqFree: Boolean(ids0 && ids0.isTensor && typeof ids0.shape[1] === 'string') });
} catch (err) {
  parentPort.postMessage({ type: 'error', id: -1, message: message(err), bad: err instanceof BadGraph });
}

parentPort.on('message', async (m) => {
  if (m.type === 'close') {
    await text?.release();
    await (await image?.catch(() => null))?.release();
    parentPort.close();
    return;
  }
  try {
    let data;
    if (m.type === 'text') {
      if (!text) throw new Error('the text graph is not loaded');
      data = await run(text, { input_ids: new ort.Tensor('int64', new BigInt64Array(m.buffer), [m.n, m.len ?? contextLength]) }, 'text_embeds', m.n);
    } else {
      image ??= open(imageOnnx, 'pixel_values', 'image_embeds');
      const s = await image.catch((err) => {
        image = null; // try again on the next image request
        throw err;
      });
      data = await run(s, { pixel_values: new ort.Tensor('float32', new Float32Array(m.buffer), [m.n, 3, size, size]) }, 'image_embeds', m.n);
    }
    parentPort.postMessage({ type: 'result', id: m.id, buffer: data.buffer }, [data.buffer]);
  } catch (err) {
    parentPort.postMessage({ type: 'error', id: m.id, message: message(err), bad: err instanceof BadGraph });
  }
});
