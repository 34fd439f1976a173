import type { BerthModule } from './module.js';

// Every capability module, in start order. One line each; a module's folder holds all of it.
export const modules: BerthModule[] = [];
