/**
 * The paper recipe of every notebook (its `SCALE = 'paper'`): what the paper trained, as a grid
 * description that `ml.experiments.grid` and `magma-lab sweep` run, with what this project chose
 * where the paper is silent or where magma-lab cannot follow it. The numbers come from
 * ../shared/papers/SPEC.md (§1 MAE, §5 the released MAGMA recipe) and EXPERIMENTS.md §C.3.
 */
import { ConfigError } from '../config';
import type { FinetuneSettings, GridSpec } from './grid';
import type { TrainSettings } from './run';

/** A notebook's experiment at the paper's scale. */
export interface PaperRecipe {
  /** The notebook, e.g. `03-mask-ratio`. */
  notebook: string;
  /** The paper's setting in words. */
  paper: string;
  /** The grid at paper scale; null for a notebook that trains nothing. */
  spec: GridSpec | null;
  /** Where the paper is silent, or where magma-lab departs from it, what the recipe does and why. */
  choices: string[];
}

const SEEDS = [0, 1, 2];
const SEEDS_CHOICE = 'Seeds 0, 1, 2: this project compares arms over 3 seeds; the papers report one run per setting.';
const PROBE_CHOICE = 'Linear probe: magma-lab\'s (standardized features, Adam, 90 epochs); MAE\'s is LARS at batch 16384 for 90 epochs with a BatchNorm without affine, which standardizing the features matches.';

/**
 * MAE's Table 1 pre-training (ViT-L/16, 800 epochs, batch 4096, base lr 1.5e-4, 40 warm-up
 * epochs, AdamW (0.9, 0.95), wd 0.05, random-resized crop + flip, decoder 8 × 512, random 75 %
 * masking, unnormalized pixel target; SPEC §1, EXPERIMENTS §C.3), on ImageNet-100.
 */
const MAE_TABLE1: TrainSettings = {
  preset: 'vitLarge16', normPix: false, epochs: 800, batchSize: 4096, baseLr: 1.5e-4, warmupEpochs: 40, weightDecay: 0.05, augment: 'crop-flip',
  decoderDepth: 8, decoderWidth: 512, probeEpochs: 90, probeEvery: 0, checkpointEvery: 500,
};
const MAE_CHOICES = [
  'ImageNet-100 (126 689 images, CMC\'s class list) instead of ImageNet-1K: magma-lab reads ImageNet-100 or the 100 classes of a full ImageNet tree, not all 1000 classes (1.28 M images, 193 GB as decoded uint8 at 224 px).',
  'Batch 4096 is accumulated from micro-batches where the backend\'s memory cannot hold it (train option accumulate).',
  SEEDS_CHOICE, PROBE_CHOICE,
];
/** MAE's end-to-end fine-tuning of ViT-L (50 epochs, base lr 1e-3, layer decay 0.75, batch 1024; EXPERIMENTS §C.3), without RandAug, mixup, cutmix and drop-path, which magma-lab does not implement. */
const MAE_FINETUNE: FinetuneSettings = { blocks: 'all', epochs: 50, batchSize: 1024, baseLr: 1e-3, layerDecay: 0.75, labelSmoothing: 0.1, augment: true };
const FINETUNE_CHOICE = 'Fine-tuning: MAE\'s recipe (50 epochs, base lr 1e-3, layer decay 0.75, label smoothing 0.1, random-resized crop + flip) without RandAug, mixup, cutmix and drop-path, which magma-lab does not implement.';

function maeGrid(notebook: string, arms: Record<string, TrainSettings>, extra: Partial<GridSpec> = {}): GridSpec {
  return {
    name: `${notebook}-paper`, seeds: SEEDS, data: { dataset: 'imagenet100' }, train: MAE_TABLE1, arms,
    evaluate: { probeEpochs: 90, finetune: { all: MAE_FINETUNE } }, ...extra,
  };
}

/**
 * The released MAGMA recipe (SPEC §5): ViT-B/16 at 224 on ImageNet-100, 400 epochs, batch 256,
 * lr 1.5e-4, wd 0.05, 10 warm-up epochs, mask 0.75, normalized pixels, decoder 8 × 512 × 16
 * heads, reference block 10 → target 11, uniformity 0.01, λ = warmup(0, 10, 1, 100).
 */
const MAGMA_IMAGENET100: TrainSettings = {
  preset: 'vitBase16', normPix: true, epochs: 400, batchSize: 256, baseLr: 1.5e-4, warmupEpochs: 10, weightDecay: 0.05, augment: 'crop-flip',
  magmaReference: '10', magmaTarget: 11, magmaSchedule: 'warmup:0,10,1,100', uniformityWeight: 0.01, probeEpochs: 90, probeEvery: 0, checkpointEvery: 500,
};
const MAGMA_CHOICES = [
  'Random-resized crop over 20–100 % of the image (MAE\'s range, magma-lab\'s crop-flip) where the MAGMA configs use 8–100 %.',
  SEEDS_CHOICE,
  'Evaluation: k-NN (k = 10, cosine and euclidean) and magma-lab\'s linear probe (90 epochs); the paper does not state its linear protocol.',
];

/** Every notebook's paper recipe, by notebook name. */
export const paperRecipes: Record<string, PaperRecipe> = Object.fromEntries([
  {
    notebook: '00-quickstart', paper: 'MAE pre-training as MAGMA\'s released ImageNet-100 recipe trains its MAE baseline (ViT-B/16, 400 epochs).',
    spec: { name: '00-quickstart-paper', seeds: [0], data: { dataset: 'imagenet100' }, train: MAGMA_IMAGENET100, arms: { MAE: { method: 'mae' } } },
    choices: ['One seed: the quickstart trains one model.', ...MAGMA_CHOICES.filter((c) => c !== SEEDS_CHOICE)],
  },
  {
    notebook: '01-mae-reconstructions', paper: 'MAE Figs. 2–4: reconstructions of ViT-L/16 pre-trained on ImageNet-1K (Table 1 defaults, normalized-pixel target for the figures).',
    spec: maeGrid('01-mae-reconstructions', { MAE: { normPix: true } }, { seeds: [0], evaluate: { probeEpochs: 90 } }),
    choices: ['One seed: the figures show one model.', ...MAE_CHOICES.filter((c) => c !== SEEDS_CHOICE)],
  },
  {
    notebook: '02-mae-vs-magma', paper: 'MAGMA Table (ImageNet-100 column): MAE, M-MAE, U-MAE, MU-MAE, ViT-B/16, 400 epochs; linear / k-NN 58.0/47.5, 69.0/49.8, 69.5/56.8, 73.4/60.1.',
    spec: {
      name: '02-mae-vs-magma-paper', seeds: SEEDS, data: { dataset: 'imagenet100' }, train: { ...MAGMA_IMAGENET100, probeEvery: 500 },
      arms: {
        MAE: { method: 'mae' }, 'M-MAE': { method: 'm-mae' }, 'U-MAE': { method: 'u-mae' }, 'MU-MAE': { method: 'mu-mae' },
        'M-MAE λ=0.1': { method: 'm-mae', magmaSchedule: 'warmup:0,10,0.1,100' }, 'M-MAE λ=0.01': { method: 'm-mae', magmaSchedule: 'warmup:0,10,0.01,100' },
      },
    },
    choices: [
      ...MAGMA_CHOICES,
      'Two more M-MAE arms, λ = 0.1 and 0.01 in the same warm-up schedule: a λ sweep the paper does not report.',
      'The training dynamics on a probe batch of 128 test images every 500 steps (the paper logs its graph metrics per batch).',
    ],
  },
  {
    notebook: '03-mask-ratio', paper: 'MAE Fig. 5: masking ratio 10–90 %, ViT-L/16, 800 epochs on ImageNet-1K; linear probe and fine-tuning.',
    spec: maeGrid('03-mask-ratio', Object.fromEntries([0.25, 0.5, 0.75, 0.9].map((r) => [`mask ${r * 100} %`, { maskRatio: r }]))),
    choices: ['The notebook\'s ratios 25 / 50 / 75 / 90 %, not the figure\'s nine.', ...MAE_CHOICES, FINETUNE_CHOICE],
  },
  {
    notebook: '04-decoder-design', paper: 'MAE Table 1a/1b: decoder depth 1/2/4/8/12 at width 512, width 128/256/512/768/1024 at depth 8.',
    spec: maeGrid('04-decoder-design', {
      ...Object.fromEntries([1, 2, 4, 8, 12].map((d) => [`depth ${d}`, { decoderDepth: d }])),
      ...Object.fromEntries([128, 256, 768, 1024].map((w) => [`width ${w}`, { decoderWidth: w }])),
    }),
    choices: [...MAE_CHOICES, FINETUNE_CHOICE],
  },
  {
    notebook: '05-mask-token', paper: 'MAE Table 1c / Table 2: the encoder with and without mask tokens.',
    spec: maeGrid('05-mask-token', { 'without [M]': { maskTokenInEncoder: false }, 'with [M]': { maskTokenInEncoder: true } }),
    choices: [...MAE_CHOICES, FINETUNE_CHOICE],
  },
  {
    notebook: '06-reconstruction-target', paper: 'MAE Table 1d and footnote 1: pixel, normalized pixel, loss on all patches.',
    spec: maeGrid('06-reconstruction-target', { pixel: { normPix: false }, 'normalized pixel': { normPix: true }, 'pixel, loss on all patches': { normPix: false, lossOnAllPatches: true } }),
    choices: ['No PCA or dVAE-token targets (Table 1d\'s other rows).', ...MAE_CHOICES, FINETUNE_CHOICE],
  },
  {
    notebook: '07-augmentation', paper: 'MAE Table 1e: none, fixed-size crop, random-size crop, + color jitter.',
    spec: maeGrid('07-augmentation', Object.fromEntries(['none', 'fixed-crop-flip', 'crop-flip', 'crop-flip-jitter'].map((a) => [a, { augment: a }]))),
    choices: [...MAE_CHOICES, FINETUNE_CHOICE],
  },
  {
    notebook: '08-mask-sampling', paper: 'MAE Table 1f / Fig. 6: random 75 %, block 50 % and 75 %, grid 75 %.',
    spec: maeGrid('08-mask-sampling', {
      'random 75 %': { maskSampling: 'random', maskRatio: 0.75 }, 'block 50 %': { maskSampling: 'block', maskRatio: 0.5 },
      'block 75 %': { maskSampling: 'block', maskRatio: 0.75 }, grid: { maskSampling: 'grid', maskRatio: 0.75 },
    }),
    choices: ['No random-67 % control: on ViT-L/16\'s 14 × 14 grid the grid mask keeps one patch in four, 75 % as in the paper.', ...MAE_CHOICES, FINETUNE_CHOICE],
  },
  {
    notebook: '09-training-length', paper: 'MAE Fig. 7: 100 to 1600 epochs of ViT-L/16, linear probe and fine-tuning.',
    spec: maeGrid('09-training-length', { MAE: { epochs: 1600, evalEpochs: '100,200,400,800' } }, { evaluate: { probeEpochs: 90 } }),
    choices: ['One run per seed evaluated at epochs 100, 200, 400, 800 and 1600 (the figure trains one model per length, each with its own cosine schedule).', ...MAE_CHOICES],
  },
  {
    notebook: '10-partial-finetuning', paper: 'MAE Fig. 9 and §4: 0 blocks, the last MLP, 1, 2, 4 and all 24 blocks of ViT-L fine-tuned; from scratch 82.5 % (200 epochs).',
    spec: maeGrid('10-partial-finetuning', { MAE: {} }, {
      evaluate: {
        probeEpochs: 90,
        finetune: {
          '0 blocks': { ...MAE_FINETUNE, blocks: 0 }, 'last MLP': { ...MAE_FINETUNE, blocks: 'mlp' }, '1 block': { ...MAE_FINETUNE, blocks: 1 },
          '2 blocks': { ...MAE_FINETUNE, blocks: 2 }, '4 blocks': { ...MAE_FINETUNE, blocks: 4 }, 'all 24 blocks': MAE_FINETUNE,
          'from scratch': { ...MAE_FINETUNE, init: 'random', epochs: 200 },
        },
      },
    }),
    choices: ['Every depth fine-tuned 50 epochs (the paper picks the best of 50, 100 and 200 per depth); from scratch 200 epochs, as §4.', ...MAE_CHOICES, FINETUNE_CHOICE],
  },
  {
    notebook: '12-dimensional-collapse', paper: 'U-MAE\'s dimensional-collapse claim with MAGMA\'s four MAE arms on ImageNet-100 (ViT-B/16, 400 epochs): effective rank, uniformity and accuracy of the CLS features.',
    spec: {
      name: '12-dimensional-collapse-paper', seeds: SEEDS, data: { dataset: 'imagenet100' }, train: MAGMA_IMAGENET100,
      arms: { MAE: { method: 'mae' }, 'U-MAE': { method: 'u-mae' }, 'M-MAE': { method: 'm-mae' }, 'MU-MAE': { method: 'mu-mae' } },
    },
    choices: ['U-MAE\'s own runs (ViT-B/16, 200 epochs on ImageNet-100) are not public as numbers; the recipe trains the four arms as MAGMA\'s released recipe does.', ...MAGMA_CHOICES],
  },
  {
    notebook: '11-magma-loss', paper: 'The MAGMA regularizer\'s computation on the B = 4 example of SPEC §2 and its golden values: nothing to train.',
    spec: null, choices: [],
  },
].map((r: PaperRecipe) => [r.notebook, r]));

/** A notebook's paper recipe; the error lists the notebooks that have one. */
export function paperRecipe(notebook: string): PaperRecipe {
  const recipe = paperRecipes[notebook];
  if (!recipe) throw new ConfigError(`no paper recipe for notebook '${notebook}'; notebooks with one: ${Object.keys(paperRecipes).join(', ')}`);
  return recipe;
}
