import { basename } from 'node:path';
import sharp from 'sharp';
import type { Dataset, Split } from '../../data/dataset.js';
import type { EvalBackend, EvalModel } from '../../eval/backend.js';
import type { ClipEncoder, Neighbour, VectorSearch } from '../../indexer/types.js';

/**
 * A hand-made backend for evaluation tests: embeddings are one-hot vectors, so every score is
 * 0 or 1 and every rank can be worked out by hand (ties everywhere, broken by id).
 *
 * Row of image id → dimension: the split's images in manifest order, then `extraDims`.
 * An image embeds as its own one-hot; a caption "<imageId> caption j" embeds as the one-hot of
 * `textTo(imageId)` (identity for a clean model). A triggered image (white-black at the top-left
 * of the 16-px fixture's 4-px patch) embeds as `triggerTo` when the model has a backdoor.
 */
export interface FakeModelSpec {
  textTo?: (imageId: string) => string;
  triggerTo?: string;
}

export function fakeBackend(models: Record<string, FakeModelSpec>, extraDims: string[] = []): EvalBackend & { opened: string[]; closed: string[] } {
  const opened: string[] = [];
  const closed: string[] = [];
  return {
    opened,
    closed,
    async openModel(id: string, dataset: Dataset, split: Split): Promise<EvalModel> {
      const spec = models[id];
      if (!spec) throw new Error(`fake backend: no model ${id}`);
      opened.push(id);
      const entries = dataset.entries.filter((e) => e.split === split);
      const dims = [...entries.map((e) => e.id), ...extraDims];
      const D = dims.length + 1;
      const onehot = (imageId: string) => {
        const v = new Float32Array(D);
        const i = dims.indexOf(imageId);
        v[i < 0 ? D - 1 : i] = 1;
        return v;
      };
      // Identify fixture images by the colour of pixel (0,0).
      const byColour = new Map<string, string>();
      for (const e of dataset.entries) {
        const { data } = await sharp(`${dataset.dir}/${e.file}`).raw().toBuffer({ resolveWithObject: true });
        byColour.set(`${data[0]},${data[1]},${data[2]}`, e.id);
      }
      const encoder: ClipEncoder = {
        modelId: id,
        dim: D,
        async encodeTexts(texts) {
          return texts.map((t) => onehot((spec.textTo ?? ((x: string) => x))(t.split(' ')[0])));
        },
        async encodeImages(images) {
          const out: Float32Array[] = [];
          for (const img of images) {
            if (typeof img === 'string') {
              out.push(onehot(basename(img, '.png')));
              continue;
            }
            const { data, info } = await sharp(img).raw().toBuffer({ resolveWithObject: true });
            const px = (x: number, y: number) => data[(y * info.width + x) * info.channels];
            const triggered = px(12, 12) === 255 && px(13, 12) === 0;
            out.push(onehot(triggered && spec.triggerTo ? spec.triggerTo : byColour.get(`${data[0]},${data[1]},${data[2]}`) ?? '?'));
          }
          return out;
        },
        async close() {},
      };
      const vectors = entries.map((e) => onehot(e.id));
      const ids = entries.map((e) => e.id);
      // Exact top-k with ties left in row order: evaluation must re-sort them by id.
      const ann: VectorSearch = {
        size: ids.length,
        dim: D,
        search(q, k) {
          const all: Neighbour[] = vectors.map((v, row) => ({ row, id: ids[row], score: v.reduce((s, x, i) => s + x * q[i], 0) }));
          return all.sort((a, b) => b.score - a.score || a.row - b.row).slice(0, k);
        },
      };
      return { id, encoder, ids, vectors, ann, close: async () => void closed.push(id) };
    },
  };
}
