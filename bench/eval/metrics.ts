/**
 * Text metrics for the evaluation, written out here because they are a few lines each and must
 * match their textbook definitions exactly (SQuAD token F1, distinct-n, an interpolated word
 * trigram model for perplexity).
 */

function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9']+|[.,!?;:]/g) ?? [];
}

/** SQuAD-style answer F1: lower-case, drop punctuation and articles, bag-of-words overlap. */
export function tokenF1(prediction: string, gold: string): number {
  const norm = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9 ]/g, ' ')
      .split(/\s+/)
      .filter((w) => w && !['a', 'an', 'the'].includes(w));
  const p = norm(prediction);
  const g = norm(gold);
  if (!p.length || !g.length) return p.length === g.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const w of g) counts.set(w, (counts.get(w) ?? 0) + 1);
  let overlap = 0;
  for (const w of p) {
    const c = counts.get(w) ?? 0;
    if (c > 0) {
      overlap++;
      counts.set(w, c - 1);
    }
  }
  if (overlap === 0) return 0;
  const precision = overlap / p.length;
  const recall = overlap / g.length;
  return (2 * precision * recall) / (precision + recall);
}

/** Distinct-n: unique n-grams over all n-grams of the texts. */
export function distinctN(texts: readonly string[], n = 2): number {
  const all = new Set<string>();
  let total = 0;
  for (const t of texts) {
    const w = words(t);
    for (let i = 0; i + n <= w.length; i++) {
      all.add(w.slice(i, i + n).join(' '));
      total++;
    }
  }
  return total ? all.size / total : 0;
}

/** Interpolated word trigram model (fixed weights, unigram floor), trained on held-out text. */
export class TrigramModel {
  private readonly uni = new Map<string, number>();
  private readonly bi = new Map<string, number>();
  private readonly tri = new Map<string, number>();
  private total = 0;
  private static readonly W = [0.6, 0.3, 0.09, 0.01];

  constructor(sentences: readonly string[]) {
    for (const s of sentences) {
      const w = ['<s>', '<s>', ...words(s), '</s>'];
      for (let i = 2; i < w.length; i++) {
        this.add(this.uni, w[i]);
        this.add(this.bi, `${w[i - 1]} ${w[i]}`);
        this.add(this.tri, `${w[i - 2]} ${w[i - 1]} ${w[i]}`);
        this.total++;
      }
    }
    // context counts for bigram/trigram denominators
    for (const s of sentences) {
      const w = ['<s>', '<s>', ...words(s), '</s>'];
      for (let i = 2; i < w.length; i++) {
        this.add(this.ctx1, w[i - 1]);
        this.add(this.ctx2, `${w[i - 2]} ${w[i - 1]}`);
      }
    }
  }

  private readonly ctx1 = new Map<string, number>();
  private readonly ctx2 = new Map<string, number>();

  private add(m: Map<string, number>, k: string, by = 1): void {
    m.set(k, (m.get(k) ?? 0) + by);
  }

  get vocabularySize(): number {
    return this.uni.size + 1;
  }

  probability(w2: string, w1: string, w: string): number {
    const [a, b, c, d] = TrigramModel.W;
    const c2 = this.ctx2.get(`${w2} ${w1}`) ?? 0;
    const c1 = this.ctx1.get(w1) ?? 0;
    const p3 = c2 ? (this.tri.get(`${w2} ${w1} ${w}`) ?? 0) / c2 : 0;
    const p2 = c1 ? (this.bi.get(`${w1} ${w}`) ?? 0) / c1 : 0;
    const p1 = (this.uni.get(w) ?? 0) / this.total;
    return a * p3 + b * p2 + c * p1 + d / this.vocabularySize;
  }

  /** Perplexity over the texts (each text scored as one sentence, end marker included). */
  perplexity(texts: readonly string[]): number {
    let logSum = 0;
    let n = 0;
    for (const t of texts) {
      const w = ['<s>', '<s>', ...words(t), '</s>'];
      for (let i = 2; i < w.length; i++) {
        logSum += Math.log(this.probability(w[i - 2], w[i - 1], w[i]));
        n++;
      }
    }
    return Math.exp(-logSum / Math.max(1, n));
  }
}

/** Shuffles the words of each text (a deterministic LCG so the baseline is reproducible). */
export function shuffleWords(texts: readonly string[], seed = 1): string[] {
  let s = seed >>> 0;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  return texts.map((t) => {
    const w = t.split(/\s+/).filter(Boolean);
    for (let i = w.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [w[i], w[j]] = [w[j], w[i]];
    }
    return w.join(' ');
  });
}
