// The dataset API for the studio's worker and the CLI (browser-safe: no Node APIs).
//   const input = fileInput(file);                         // a File dropped in the page
//   const d = await prepareData(input, tokenizer, { seqLen, evalSplit: 0.1, packing: true });
//   runTraining(ctx, loaded, d.train, d.eval, cfg, ...);    // d.stats / d.preview for the preview pane
// Render d.preview as text (never as HTML): segments are the dataset's own text.
export { makeBatch, batches, permutation, type Example } from './batch';
export { ExampleStore, ExampleView, viewAll, type ExampleList } from './examples';
export {
  inspectDataset, loadDataset, prepareData, splitExamples, splitIndices, splitStore, previewOf, renderPreview,
  type DataOptions, type DataProgress, type LoadedDataset, type DatasetStats, type DatasetExample,
  type PreviewExample,
} from './dataset';
export { alpacaPrompt, makeFormatter, CHATML_TEMPLATE, CHAT_TEMPLATE_CHOICES, type Formatted, type Formatter } from './format';
export { bytesInput, fileInput, DatasetError, type DataInput } from './input';
export { packExamples, packStore, type ArrayExample } from './pack';
export { detectFileFormat, readRecords, FILE_FORMATS, type FileFormat, type RawRecord } from './readers';
export { detectShape, toSample, RECORD_SHAPES, type RecordShape, type Sample, type ChatMessage } from './shapes';
export { tokenizeFormatted } from './tokenize';
