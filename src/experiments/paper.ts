/**
 * The paper recipe of every notebook (its `SCALE = 'paper'`): what the paper trained, as a grid
 * description that `ml.experiments.grid` and `magma-lab sweep` run, with what this project chose
 * where the paper is silent or where magma-lab cannot follow it. The numbers come from
 * ../shared/papers/SPEC.md (§1 MAE, §5 the released MAGMA recipe and table) and EXPERIMENTS.md
 * (§A.6 the two-view methods, §C.3 MAE's recipes).
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
  /** A notebook that trains one grid per dataset: all of them (`spec` is one of them, the one the dry run checks). */
  grids?: GridSpec[];
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
const MAGMA_EVAL_CHOICE = 'Evaluation: k-NN (k = 10, cosine and euclidean) and magma-lab\'s linear probe (90 epochs); the paper does not state its linear protocol.';
const MAGMA_CHOICES = [
  'Random-resized crop over 20–100 % of the image (MAE\'s range, magma-lab\'s crop-flip) where the MAGMA configs use 8–100 %.',
  SEEDS_CHOICE,
  MAGMA_EVAL_CHOICE,
];

/**
 * The two-view baselines of the MAGMA table (SimCLR, VICReg and their M- variants), whose configs
 * were not released (EXPERIMENTS §A.6): MAGMA's released ImageNet-100 optimization and λ (SPEC §5:
 * ViT-B/16 at 224, 400 epochs, batch 256, AdamW lr 1.5e-4, wd 0.05, 10 warm-up epochs, reference
 * block 10 → target 11, λ = warmup(0, 10, 1, 100)) with the heads of solo-learn, on which MAGMA's
 * code is built (SimCLR: τ 0.2, projector 2048 → 256; VICReg: 25 / 25 / 1, projector 2048 → 2048 → 2048).
 */
const TWO_VIEW_IMAGENET100: TrainSettings = {
  preset: 'vitBase16', epochs: 400, batchSize: 256, baseLr: 1.5e-4, warmupEpochs: 10, weightDecay: 0.05,
  magmaReference: '10', magmaTarget: 11, magmaSchedule: 'warmup:0,10,1,100', projectorHidden: 2048, probeEpochs: 90, probeEvery: 0, checkpointEvery: 500,
};
const TWO_VIEW_CHOICES = [
  'Backbone ViT-B/16 at 224 px, as the paper\'s MAE rows: the paper does not state the backbone of its SimCLR and VICReg rows, and the official SimCLR_REG / VICReg_REG (the stored version) regularize a ResNet\'s pooled layer3 against its final features over both views; magma-lab trains ViTs only, so MAGMA acts on the mean patch tokens of block 10 against block 11, first view (the code\'s ViT branch, EXPERIMENTS §A.2).',
  'Optimization and λ: no config of M-SimCLR or M-VICReg was released (λ, epochs and optimizer NOT FOUND); the recipe takes MAGMA\'s released ImageNet-100 ones (AdamW, base lr 1.5e-4, wd 0.05, 400 epochs, batch 256, 10 warm-up epochs, λ = warmup(0, 10, 1, 100)), where solo-learn\'s own SimCLR and VICReg configs use LARS.',
  'Views: random-resized crop over 8–100 % + horizontal flip + color jitter (0.4, 0.4, 0.2, 0.1; p 0.8) + grayscale (p 0.2), without the Gaussian blur and solarization of solo-learn\'s augmentations, which magma-lab does not implement.',
  SEEDS_CHOICE, MAGMA_EVAL_CHOICE,
];

/**
 * The arms of notebook 15-magma-ablations for an encoder of `depth` blocks (the notebook names its
 * arms the same way): MAE, the base M-MAE (the grid's shared MAGMA settings), and one knob changed
 * per arm. λ schedules are written for 400 epochs (`magmaScheduleEpochs` in the shared settings
 * stretches them over a shorter run). The fixed-γ arms are added by the notebook once MAE's γ is known.
 */
function magmaAblationArms(depth: number): Record<string, TrainSettings> {
  const m = (changes: TrainSettings): TrainSettings => ({ method: 'm-mae', ...changes });
  return {
    MAE: { method: 'mae' },
    'M-MAE': m({}),
    [`reference block ${depth - 3}`]: m({ magmaReference: '-3' }),
    [`reference block ${depth - 4}`]: m({ magmaReference: '-4' }),
    [`reference blocks ${depth - 3}+${depth - 2}`]: m({ magmaReference: '-3,-2' }),
    'constant λ 0.1': m({ magmaSchedule: 'constant:0.1' }),
    'constant λ 10': m({ magmaSchedule: 'constant:10' }),
    'warmup schedule (released)': m({ magmaSchedule: 'warmup:0,10,1,100' }),
    'triangle schedule': m({ magmaSchedule: 'triangle:0,1,0.2,10,60,300' }),
    'step schedule': m({ magmaSchedule: 'step:1,0.5,100,200,300' }),
    'interval schedule': m({ magmaSchedule: 'interval:200-400=1' }),
    'rbf scale 0.5': m({ magmaRbfScale: 0.5 }),
    'rbf scale 2': m({ magmaRbfScale: 2 }),
  };
}

/**
 * The eight methods of the MAGMA table (SPEC §5) as arms named as the table names them: the MAE
 * family with the released MAGMA recipe, the two-view methods with solo-learn's heads (SimCLR: τ
 * 0.2, projector 2048 → 256; VICReg: 2048 → 2048 → 2048), as notebooks 13 and 14 train them.
 */
const TABLE_ARMS: Record<string, TrainSettings> = {
  MAE: { method: 'mae' }, 'M-MAE': { method: 'm-mae' }, 'U-MAE': { method: 'u-mae' }, 'MU-MAE': { method: 'mu-mae' },
  SimCLR: { method: 'simclr', projectorOutput: 256 }, 'M-SimCLR': { method: 'm-simclr', projectorOutput: 256 },
  VICReg: { method: 'vicreg', projectorOutput: 2048 }, 'M-VICReg': { method: 'm-vicreg', projectorOutput: 2048 },
};

/**
 * The datasets of the MAGMA table at the image sizes of MAGMA's evaluation transforms
 * (EXPERIMENTS §B.3: CIFAR 32, STL-10 96, Tiny-ImageNet 64, ImageNet-100 224), with ViT-B's patch
 * for each: the released 16 at 224, and on the small datasets the 8 × 8 token grid of solo-learn's
 * CIFAR ViT (patch 4 at 32 px), since MAGMA released no config for them.
 */
const TABLE_DATASETS = [
  { dataset: 'cifar100', side: 32, patch: 4 }, { dataset: 'stl10', side: 96, patch: 12 },
  { dataset: 'tiny-imagenet', side: 64, patch: 8 }, { dataset: 'imagenet100', side: 224, patch: 16 },
];

/** One dataset's grid of the table: the eight methods, the released recipe, the dataset's image size (decoded to it where the loader resizes). */
function paperTableGrid(d: (typeof TABLE_DATASETS)[number]): GridSpec {
  const decoded = d.dataset === 'tiny-imagenet' || d.dataset === 'imagenet100';
  return {
    name: `17-paper-table-${d.dataset}-paper`, seeds: SEEDS, data: { dataset: d.dataset, ...(decoded ? { imageSize: d.side } : {}) },
    train: { ...MAGMA_IMAGENET100, patchSize: d.patch, temperature: 0.2, projectorHidden: 2048 }, arms: TABLE_ARMS,
  };
}
const PAPER_TABLE_GRIDS = TABLE_DATASETS.map(paperTableGrid);

/** Every notebook's paper recipe, by notebook name. */
export const paperRecipes: Record<string, PaperRecipe> = Object.fromEntries([
  {
    notebook: '00-quickstart', paper: 'MAE pre-training as MAGMA\'s released ImageNet-100 recipe trains its MAE baseline (ViT-B/16, 400 epochs).',
    spec: { name: '00-quickstart-paper', seeds: [0], data: { dataset: 'imagenet100' }, train: MAGMA_IMAGENET100, arms: { MAE: { method: 'mae' } } },
    choices: ['One seed: the quickstart trains one model.', ...MAGMA_CHOICES.filter((c) => c !== SEEDS_CHOICE)],
  },
  {
    notebook: '01-mae-reconstructions', paper: 'MAE Figs. 2–4: reconstructions of ViT-L/16 pre-trained on ImageNet-1K (Table 1 defaults).',
    spec: maeGrid('01-mae-reconstructions', { MAE: {} }, { seeds: [0], evaluate: { probeEpochs: 90 } }),
    choices: [
      'One seed: the figures show one model.',
      'Pixel target (Table 1\'s default), as the visualization models MAE released ("trained with pixels as targets"): with normalized pixels a picture could only be drawn with the true mean and std of every removed patch.',
      ...MAE_CHOICES.filter((c) => c !== SEEDS_CHOICE),
    ],
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
    notebook: '16-qualitative-figures',
    paper: 'MAGMA\'s qualitative figures (README assets cute_cow.png and bridge.png, EXPERIMENTS.md §B.5): the top PCA component of the patch tokens of every block of ViT-B (12 blocks) and the attention of the 12 heads of the last block, for MAE, M-MAE, U-MAE and MU-MAE (ViT-B; the dataset and training of the figures are not stated); captions only (less noisy features for M-MAE, more focused heads), no numbers. The recipe trains the four arms with the released ImageNet-100 recipe (ViT-B/16, 400 epochs).',
    spec: {
      // Notebook 02's paper grid (same name and settings) restricted to the paper's four arms: its finished runs are read back.
      name: '02-mae-vs-magma-paper', seeds: SEEDS, data: { dataset: 'imagenet100' }, train: { ...MAGMA_IMAGENET100, probeEvery: 500 },
      arms: { MAE: { method: 'mae' }, 'M-MAE': { method: 'm-mae' }, 'U-MAE': { method: 'u-mae' }, 'MU-MAE': { method: 'mu-mae' } },
    },
    choices: [
      'The runs are notebook 02\'s paper-scale runs of the four arms (the same grid name and settings), trained once for both notebooks.',
      'The figures\' images: the paper shows one photograph per figure (a cow, a bridge); the notebook shows the same few test images for every arm and measures its scores on many test images.',
      'Which block and query the paper\'s attention figure shows is not stated (EXPERIMENTS.md §B.5); the notebook shows the CLS query of the last block.',
      'Foreground and background come from the input pixels (a patch is background when all its pixels lie within 0.1 of the background value): right for Fashion-MNIST\'s black surround, not for photographs, where few patches are flat; at this scale the background masks and the foreground/background scores need object masks (e.g. ImageNet\'s bounding boxes), which magma-lab does not read.',
      ...MAGMA_CHOICES,
    ],
  },
  {
    notebook: '15-magma-ablations',
    paper: 'MAGMA\'s knobs on M-MAE one at a time (reference block, λ, λ schedule, rbf_scale, fixed γ), with the released ImageNet-100 recipe otherwise (ViT-B/16, 400 epochs); the paper reports no numbers for any of them (EXPERIMENTS.md §E.1 row M8), only the released setting\'s M-MAE, 69.0 / 49.8 (linear / k-NN) against MAE\'s 58.0 / 47.5.',
    spec: {
      name: '15-magma-ablations-paper', seeds: SEEDS, data: { dataset: 'imagenet100' },
      // The base M-MAE of the ablation: λ = 1 throughout; the released warmup is one of the schedule arms.
      train: { ...MAGMA_IMAGENET100, magmaReference: '-2', magmaTarget: -1, magmaSchedule: 'constant:1', magmaScheduleEpochs: 400, magmaRbfScale: 1, magmaScaleDistance: false, probeEvery: 500 },
      arms: magmaAblationArms(12),
    },
    choices: [
      'The base M-MAE has λ = 1 in every epoch (constant:1), the notebook\'s base, so that the other knobs act over the whole run; the released warmup:0,10,1,100 is the arm \'warmup schedule (released)\'.',
      'Reference blocks counted from the target (the last block, 11): 10 (the released one, the base), 9, 8, and 9 + 10 together (two terms, averaged as the official code does); the notebook\'s tiny28 has blocks 0–3, so there the same offsets are blocks 2, 1, 0 and 1 + 2.',
      'The schedule arms other than the released warmup are illustrative (no released config uses them): triangle:0,1,0.2,10,60,300, step:1,0.5,100,200,300 (0 for the first 5 epochs, as the official code) and interval:200-400=1 (the second half only).',
      'The fixed-γ arms are not in this grid: the notebook adds them after the MAE arm has trained, at 1/3, 1 and 3 times the median γ of MAE\'s reference-block graph over its steps and seeds (every run records γ per step).',
      'scale_euclidean_distance gets no arm: dividing the squared distances by √D divides the batch γ by √D too, so the graph is unchanged (with a fixed γ it equals a √D times larger fixed γ); the notebook checks this on a trained model.',
      'Training dynamics (γ, every block\'s representation norm) measured on a probe batch of 128 test images every 500 steps.',
      ...MAGMA_CHOICES,
    ],
  },
  {
    notebook: '13-simclr-vs-msimclr',
    paper: 'MAGMA Table, SimCLR → M-SimCLR (linear / k-NN, %): CIFAR-100 62.8/58.7 → 63.2/59.4, STL-10 90.4/86.9 → 90.5/86.9, Tiny-ImageNet 50.9/43.5 → 51.0/44.6, ImageNet-100 67.8/65.3 → 68.7/65.6; backbone, epochs and seeds not stated. The recipe trains the ImageNet-100 column.',
    spec: {
      name: '13-simclr-vs-msimclr-paper', seeds: SEEDS, data: { dataset: 'imagenet100' },
      train: { ...TWO_VIEW_IMAGENET100, temperature: 0.2, projectorOutput: 256 },
      arms: { SimCLR: { method: 'simclr' }, 'M-SimCLR': { method: 'm-simclr' } },
    },
    choices: ['NT-Xent with τ = 0.2 and a Linear → ReLU → Linear projector 2048 → 256, solo-learn\'s SimCLR head (MAGMA\'s SimCLR_REG builds the same).', ...TWO_VIEW_CHOICES],
  },
  {
    notebook: '14-vicreg-vs-mvicreg',
    paper: 'MAGMA Table, VICReg → M-VICReg (linear / k-NN, %): CIFAR-100 63.6/60.8 → 64.7/61.9, STL-10 87.4/84.5 → 87.4/84.5, Tiny-ImageNet 45.2/40.5 → 45.8/40.5, ImageNet-100 68.4/62.1 → 70.4/65.1; backbone, epochs and seeds not stated. The recipe trains the ImageNet-100 column.',
    spec: {
      name: '14-vicreg-vs-mvicreg-paper', seeds: SEEDS, data: { dataset: 'imagenet100' },
      train: { ...TWO_VIEW_IMAGENET100, projectorOutput: 2048 },
      arms: { VICReg: { method: 'vicreg' }, 'M-VICReg': { method: 'm-vicreg' } },
    },
    choices: ['VICReg with weights 25 (invariance), 25 (variance), 1 (covariance) and a (Linear → BatchNorm → ReLU) × 2 → Linear projector 2048 → 2048 → 2048, solo-learn\'s VICReg head (MAGMA\'s VICReg_REG builds the same).', ...TWO_VIEW_CHOICES],
  },
  {
    notebook: '17-paper-table',
    paper: 'MAGMA\'s main table: linear probe / k-NN (k = 10) top-1 of MAE, M-MAE, U-MAE, MU-MAE, SimCLR, M-SimCLR, VICReg, M-VICReg on CIFAR-100, STL-10, Tiny-ImageNet and ImageNet-100 (e.g. CIFAR-100: MAE 38.2 / 36.6 → M-MAE 43.3 / 40.7; ImageNet-100: 58.0 / 47.5 → 69.0 / 49.8); only the ImageNet-100 MU-MAE recipe was released (ViT-B/16 at 224, 400 epochs). One grid per dataset; `spec` is the ImageNet-100 one.',
    spec: PAPER_TABLE_GRIDS[3],
    grids: PAPER_TABLE_GRIDS,
    choices: [
      'Every dataset and method with the released ImageNet-100 recipe (ViT-B, 400 epochs, batch 256, AdamW base lr 1.5e-4, wd 0.05, 10 warm-up epochs, λ = warmup(0, 10, 1, 100), reference block 10 → target 11, uniformity 0.01): MAGMA released no config for CIFAR-100, STL-10 or Tiny-ImageNet, nor for its SimCLR and VICReg rows (EXPERIMENTS §B.3).',
      'Image sizes of MAGMA\'s evaluation transforms: CIFAR-100 32, STL-10 96, Tiny-ImageNet 64, ImageNet-100 224 (Tiny-ImageNet and ImageNet-100 decoded to them: shorter side resized, center crop). ViT-B\'s patch is 16 at 224 as released; on the small datasets a patch of 16 would leave 4 to 36 tokens (1 to 9 visible under 75 % masking), so they keep the 8 × 8 token grid of solo-learn\'s CIFAR ViT (patch 4 at 32 px): patch 12 at 96 px, 8 at 64 px.',
      'STL-10 pre-trains on its 100 000 unlabeled + 5 000 train images (its protocol); the probe and k-NN use train and test. Tiny-ImageNet is evaluated on its val split (the papers\' test set).',
      'SimCLR τ 0.2 with a 2048 → 256 projector, VICReg 25 / 25 / 1 with 2048 → 2048 → 2048 (solo-learn\'s heads), as notebooks 13 and 14; the two-view arms\' views are magma-lab\'s (random-resized crop 8–100 %, flip, color jitter, grayscale; no blur or solarization).',
      ...MAGMA_CHOICES,
    ],
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
