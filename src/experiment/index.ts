// The experiment layer: spec, expansion, presets and the comparison report (engine; no Node/DOM).
export * from './spec';
export * from './preset';
export * from './report';
