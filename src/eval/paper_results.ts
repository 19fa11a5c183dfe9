/**
 * The paper's own numbers (spec §9, transcribed from the reference README's result images), as data for
 * `rft report` to print beside ours. Accuracy in %, as printed.
 *
 * Which table for which task:
 * - Structure perception (GeoMath ID, Geometry3K OOD) and spatial transformation (TRANCE ID, TRANCE-Left/-Right OOD):
 *   §9.1, the current table (2025-10). The April 2025 table (§9.2) has the same numbers except one ST AVG.
 * - Visual counting: our Super-CLEVR OOD set is one pooled set (as the dataset's file is), so the comparable numbers
 *   are those of §9.2 (April 2025: CLEVR-Math ID, pooled Super-CLEVR OOD). §9.1 splits Super-CLEVR into DS-D/DS-M;
 *   those columns are kept here as `vcDomainShift` for reference.
 *
 * `printedAvg` is the AVG column as printed; the report recomputes every average from the per-set numbers and notes
 * where the printed one differs (spec §9 "Consistency notes": the paper's AVG formulas vary between rows).
 *
 * Tensor-free.
 */
import type { TaskFamily } from "../tasks/tasks.ts";

/** The paper's training paradigms, in its row order (spec §9.1). */
export const PARADIGMS = ["zero-shot", "ans-sft", "cot-sft", "reason-rft-zero", "reason-rft"] as const;
export type Paradigm = (typeof PARADIGMS)[number];

export function isParadigm(s: string): s is Paradigm {
  return (PARADIGMS as readonly string[]).includes(s);
}

/** How the paper names each paradigm's row. */
export const PARADIGM_LABELS: Readonly<Record<Paradigm, string>> = {
  "zero-shot": "Zero-Shot",
  "ans-sft": "ANS-SFT",
  "cot-sft": "CoT-SFT",
  "reason-rft-zero": "Reason-RFT-Zero",
  "reason-rft": "Reason-RFT",
};

export type PaperModel = "Qwen2-VL-2B" | "Qwen2-VL-7B";

export interface PaperRow {
  model: PaperModel;
  paradigm: Paradigm;
  /** Per-set accuracy in %, keyed by our set names (src/eval/sets.ts). */
  sets: Readonly<Record<string, number>>;
  /** The AVG column as printed. */
  printedAvg: number;
  /** Where in the spec the numbers come from. */
  source: string;
}

const VC = "spec §9.2 (April 2025 table: CLEVR-Math ID, pooled Super-CLEVR OOD)";
const SP = "spec §9.1 (2025-10 table)";
const ST = "spec §9.1 (2025-10 table)";

type Nums = readonly [number, ...number[]];
function rows(
  source: string,
  setNames: readonly string[],
  table: Readonly<Record<PaperModel, Readonly<Record<Paradigm, Nums>>>>,
): PaperRow[] {
  const out: PaperRow[] = [];
  for (const model of Object.keys(table) as PaperModel[]) {
    for (const paradigm of PARADIGMS) {
      const nums = table[model][paradigm];
      out.push({
        model,
        paradigm,
        sets: Object.fromEntries(setNames.map((s, i) => [s, nums[i]!])),
        printedAvg: nums[setNames.length]!,
        source,
      });
    }
  }
  return out;
}

/** The Qwen2-VL rows of the paper per task family: per-set numbers then the printed AVG. */
export const PAPER_RESULTS: Readonly<Record<TaskFamily, readonly PaperRow[]>> = {
  // §9.2: CLEVR-Math ID | Super-CLEVR OOD | VC AVG
  "visual-counting": rows(VC, ["clevr-math", "super-clevr"], {
    "Qwen2-VL-2B": {
      "zero-shot": [82.4, 32.0, 57.2],
      "ans-sft": [96.2, 39.2, 67.7],
      "cot-sft": [85.5, 46.5, 66.0],
      "reason-rft-zero": [98.4, 44.8, 71.6],
      "reason-rft": [96.8, 51.2, 74.0],
    },
    "Qwen2-VL-7B": {
      "zero-shot": [98.6, 42.1, 70.35],
      "ans-sft": [95.0, 33.9, 64.45],
      "cot-sft": [87.3, 42.4, 64.85],
      "reason-rft-zero": [99.4, 53.0, 76.2],
      "reason-rft": [95.6, 51.0, 73.3],
    },
  }),
  // §9.1: SP ID | SP DS | SP AVG
  "structure-perception": rows(SP, ["geomath", "geometry3k"], {
    "Qwen2-VL-2B": {
      "zero-shot": [25.86, 20.63, 23.25],
      "ans-sft": [51.34, 22.5, 36.92],
      "cot-sft": [43.05, 25.25, 34.15],
      "reason-rft-zero": [47.68, 32.5, 40.09],
      "reason-rft": [49.03, 33.13, 41.08],
    },
    "Qwen2-VL-7B": {
      "zero-shot": [43.3, 43.88, 43.59],
      "ans-sft": [51.34, 25.38, 38.36],
      "cot-sft": [50.49, 33.0, 41.75],
      "reason-rft-zero": [55.0, 54.75, 54.88],
      "reason-rft": [59.27, 49.25, 54.26],
    },
  }),
  // §9.1: ST ID | ST DS-L | ST DS-R | ST AVG. The 2B Reason-RFT-Zero row's printed AVG (33.74) is the mean of DS-L and
  // DS-R only; the mean of its three columns is 36.54 (the report notes it).
  "spatial-transformation": rows(ST, ["trance", "trance-left", "trance-right"], {
    "Qwen2-VL-2B": {
      "zero-shot": [3.78, 4.6, 4.67, 4.35],
      "ans-sft": [77.39, 49.24, 50.33, 58.99],
      "cot-sft": [64.37, 43.19, 42.86, 50.14],
      "reason-rft-zero": [42.13, 34.07, 33.41, 33.74],
      "reason-rft": [74.61, 64.05, 64.08, 67.58],
    },
    "Qwen2-VL-7B": {
      "zero-shot": [13.53, 12.72, 12.78, 13.01],
      "ans-sft": [82.19, 54.29, 54.83, 63.77],
      "cot-sft": [81.31, 47.9, 47.8, 59.0],
      "reason-rft-zero": [67.67, 57.2, 56.15, 60.34],
      "reason-rft": [79.97, 59.36, 58.61, 65.98],
    },
  }),
};

/**
 * §9.1's visual-counting columns (2025-10): CLEVR-Math ID, the two Super-CLEVR domain-shift subsets DS-D and DS-M
 * (inferred 750 + 250 items, spec §1.1) and the printed AVG (mean of the three). Not comparable with our pooled
 * Super-CLEVR set column by column; kept for reference in report.json.
 */
export const VC_DOMAIN_SHIFT: Readonly<Record<PaperModel, Readonly<Record<Paradigm, readonly number[]>>>> = {
  "Qwen2-VL-2B": {
    "zero-shot": [82.4, 42.67, 0.0, 41.69],
    "ans-sft": [96.2, 51.07, 5.2, 50.82],
    "cot-sft": [85.5, 49.73, 36.8, 57.34],
    "reason-rft-zero": [98.4, 58.0, 5.2, 53.87],
    "reason-rft": [96.8, 60.0, 28.4, 61.77],
  },
  "Qwen2-VL-7B": {
    "zero-shot": [98.6, 54.53, 4.8, 52.64],
    "ans-sft": [95.0, 42.53, 8.0, 48.51],
    "cot-sft": [87.3, 45.33, 33.6, 55.41],
    "reason-rft-zero": [99.4, 63.6, 21.2, 61.4],
    "reason-rft": [95.6, 56.13, 35.6, 62.44],
  },
};
