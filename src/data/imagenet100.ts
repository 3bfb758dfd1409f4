/**
 * ImageNet-100: the 100-class subset of ILSVRC-2012 defined by CMC (Tian et al.), in the
 * ImageFolder layout `train/<wnid>/*.JPEG` and `val/<wnid>/*.JPEG` (val sorted into class
 * folders). A full ImageNet tree of the same layout works too: only the 100 classes are read.
 *
 * The class list is `data/imagenet100.txt` (CMC's file, in CMC's order; its sha256 is checked on
 * every load). Labels follow the **sorted** wnids (torchvision's ImageFolder order), not CMC's
 * file order, as some re-uploads do.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DataError } from './errors';
import { checkDigest, readLines } from './files';
import { checkDecodedOptions, decodeSplit, type DecodedOptions, type ImageList, listClassFolders } from './imagefolder';
import type { RawSplits } from './load';
import { datasetDirs, findDatasetDir, REPO_ROOT } from './locate';

/** The committed CMC class list. */
export const IMAGENET100_LIST = path.join(REPO_ROOT, 'data', 'imagenet100.txt');
/** sha256 of CMC's imagenet100.txt with "\n" line ends. */
const LIST_SHA256 = '79f3f1552ccc478ce24bd934b4573625db584ddc1f4643ae23c994a94cb11397';
const FIX = 'ImageNet-100 needs ILSVRC-2012 (https://image-net.org, registration required): put train/<wnid>/ and val/<wnid>/ folders of at least the 100 classes of data/imagenet100.txt in data/imagenet100/ or $MAGMA_LAB_DATA/imagenet100/ (a full ImageNet tree works), or pass {dir}';

/** Class names of the 100 wnids (ILSVRC-2012 synset names). */
const NAMES: Record<string, string> = {
  n01558993: 'robin', n01692333: 'Gila monster', n01729322: 'hognose snake', n01735189: 'garter snake',
  n01749939: 'green mamba', n01773797: 'garden spider', n01820546: 'lorikeet', n01855672: 'goose',
  n01978455: 'rock crab', n01980166: 'fiddler crab', n01983481: 'American lobster', n02009229: 'little blue heron',
  n02018207: 'American coot', n02085620: 'Chihuahua', n02086240: 'Shih-Tzu', n02086910: 'papillon',
  n02087046: 'toy terrier', n02089867: 'Walker hound', n02089973: 'English foxhound', n02090622: 'borzoi',
  n02091831: 'Saluki', n02093428: 'American Staffordshire terrier', n02099849: 'Chesapeake Bay retriever',
  n02100583: 'vizsla', n02104029: 'kuvasz', n02105505: 'komondor', n02106550: 'Rottweiler', n02107142: 'Doberman',
  n02108089: 'boxer', n02109047: 'Great Dane', n02113799: 'standard poodle', n02113978: 'Mexican hairless',
  n02114855: 'coyote', n02116738: 'African hunting dog', n02119022: 'red fox', n02123045: 'tabby',
  n02138441: 'meerkat', n02172182: 'dung beetle', n02231487: 'walking stick', n02259212: 'leafhopper',
  n02326432: 'hare', n02396427: 'wild boar', n02483362: 'gibbon', n02488291: 'langur', n02701002: 'ambulance',
  n02788148: 'bannister', n02804414: 'bassinet', n02859443: 'boathouse', n02869837: 'bonnet', n02877765: 'bottlecap',
  n02974003: 'car wheel', n03017168: 'chime', n03032252: 'cinema', n03062245: 'cocktail shaker',
  n03085013: 'computer keyboard', n03259280: 'Dutch oven', n03379051: 'football helmet', n03424325: 'gasmask',
  n03492542: 'hard disc', n03494278: 'harmonica', n03530642: 'honeycomb', n03584829: 'iron', n03594734: 'jean',
  n03637318: 'lampshade', n03642806: 'laptop', n03764736: 'milk can', n03775546: 'mixing bowl', n03777754: 'modem',
  n03785016: 'moped', n03787032: 'mortarboard', n03794056: 'mousetrap', n03837869: 'obelisk',
  n03891251: 'park bench', n03903868: 'pedestal', n03930630: 'pickup', n03947888: 'pirate', n04026417: 'purse',
  n04067472: 'reel', n04099969: 'rocking chair', n04111531: 'rotisserie', n04127249: 'safety pin',
  n04136333: 'sarong', n04229816: 'ski mask', n04238763: 'slide rule', n04336792: 'stretcher',
  n04418357: 'theater curtain', n04429376: 'throne', n04435653: 'tile roof', n04485082: 'tripod', n04493381: 'tub',
  n04517823: 'vacuum', n04589890: 'window screen', n04592741: 'wing', n07714571: 'head cabbage',
  n07715103: 'cauliflower', n07753275: 'pineapple', n07831146: 'carbonara', n07836838: 'chocolate sauce',
  n13037406: 'gyromitra', n13040303: 'stinkhorn',
};

/** The 100 wnids in CMC's file order, after checking the list file's sha256. */
export function imagenet100Wnids(): string[] {
  checkDigest(IMAGENET100_LIST, 'sha256', LIST_SHA256, 'restore the file from the repository: git checkout data/imagenet100.txt');
  return readLines(IMAGENET100_LIST, 'restore the file from the repository: git checkout data/imagenet100.txt');
}

/** The images of the 100 classes in `root` (`train` or `val`), telling an unsorted val folder apart from missing classes. */
function listSplit(root: string, wnids: string[]): ImageList {
  const entries = fs.existsSync(root) ? fs.readdirSync(root) : [];
  if (entries.some((e) => /\.jpe?g$/i.test(e)) && !entries.some((e) => wnids.includes(e))) {
    throw new DataError(root, 'holds the images directly (the official ILSVRC-2012 val layout); expected them sorted into <wnid> folders',
      "sort them by class with the devkit's ground truth (e.g. the usual valprep.sh script), then load again");
  }
  return listClassFolders(root, wnids, FIX);
}

/** The first folder that holds ImageNet-100 (or a full ImageNet tree), found without reading images. */
export function imagenet100Dir(opts: Pick<DecodedOptions, 'dir'>): string {
  const wnids = imagenet100Wnids();
  return findDatasetDir(datasetDirs(['imagenet100', 'imagenet'], opts.dir), {
    name: 'imagenet100',
    holds: (d) => ['train', 'val'].some((s) => wnids.some((id) => fs.existsSync(path.join(d, s, id)))),
    expected: 'train/<wnid>/*.JPEG and val/<wnid>/*.JPEG for the 100 wnids of data/imagenet100.txt',
    fix: FIX,
  });
}

/**
 * Reads ImageNet-100 from the first folder that holds it: about 126,689 train and 5,000 val (as
 * test) images, decoded to `size` (default 224: shorter side resized, center crop).
 */
export async function readImagenet100(opts: DecodedOptions): Promise<RawSplits> {
  checkDecodedOptions('imagenet100', opts);
  const size = opts.size ?? 224;
  const wnids = [...imagenet100Wnids()].sort();
  const dir = imagenet100Dir(opts);
  const read = async (split: string, folder: string) => {
    const root = path.join(dir, folder);
    return decodeSplit({ dataset: 'imagenet100', split, root, list: listSplit(root, wnids), size, fix: FIX }, opts);
  };
  const train = await read('train', 'train');
  const test = await read('test', 'val');
  return {
    shape: [size, size, 3], classNames: wnids.map((id) => NAMES[id]), classIds: wnids, train: train.split, test: test.split,
    caches: [train.cache, test.cache].flatMap((c) => (c ? [c] : [])),
    officialCounts: { train: 126_689, test: 5000 }, source: dir,
  };
}
