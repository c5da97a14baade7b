/** Poisoning attacks: builders registered by name (./attacks.ts), goals, the backdoor trigger. */
export * from './goals.js';
export * from './trigger.js';
export * from './attacks.js';
export * from './poisoned-trainset.js';
export * from './share.js';
