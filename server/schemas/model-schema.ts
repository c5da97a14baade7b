import { name } from './common-schema.js';
import { object, type Infer } from '../../core/validate.js';

/** GET /api/models/:id */
export const modelParams = object({ id: name() });

/** POST /api/models/active {"model": ID} (admin). */
export const activateBody = object({ model: name() });
export type ActivateBody = Infer<typeof activateBody>;

/** GET /api/models and GET /api/datasets take no query parameters. */
export const noQuery = object({});
