/**
 * The playground page: settings, the browser-side user model, and two runs side by side for one
 * seed (core only, core + this page's model). The private context is tokenized here and only
 * compact logits leave the page (client/sdk's join logic over the browser's WebSocket).
 */
import type { CompletionChunk } from '../../client/sdk/complete';
import { DenoiseView, recencyColour, type ProgressEvent } from './denoise-view';
import { describeError, type ShownError } from './errors';
import { defaultModelSource, filesSource, loadBrowserModel, type BrowserModel } from './model';
import { listModels, runCollaborative, runCoreOnly, type RunSettings } from './run';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);

const errorsEl = $('errors');
const modelStatus = $('model-status');
const runButton = $<HTMLButtonElement>('run');
const stopButton = $<HTMLButtonElement>('stop');

let model: BrowserModel | undefined;
let loading: Promise<BrowserModel | undefined> | undefined;
let controller: AbortController | undefined;

function showError(e: ShownError, where?: HTMLElement): void {
  // Stopping a run is the user's choice, not a failure: shown as a notice.
  const kind = e.code === 'aborted' ? 'notice' : 'error';
  const box = document.createElement('div');
  box.className = kind;
  box.dataset.code = e.code;
  const title = document.createElement('strong');
  title.textContent = e.title;
  box.append(title, document.createTextNode(e.detail));
  errorsEl.append(box);
  if (where) {
    where.dataset.state = e.code === 'aborted' ? 'stopped' : 'error';
    where
      .querySelector('[data-role=output]')!
      .append(Object.assign(document.createElement('div'), { className: kind, textContent: `${e.title}: ${e.detail}` }));
  }
}

function setModelStatus(text: string, state: 'loading' | 'ready' | 'error' | 'none'): void {
  modelStatus.textContent = text;
  modelStatus.dataset.state = state;
}

async function loadModel(
  source: () => Promise<{ source: Parameters<typeof loadBrowserModel>[0]; name: string }>,
): Promise<BrowserModel | undefined> {
  setModelStatus('loading…', 'loading');
  const started = performance.now();
  try {
    const { source: src, name } = await source();
    setModelStatus(`loading ${name}…`, 'loading');
    const m = await loadBrowserModel(src, 'auto', (line) => console.warn(line));
    model = m;
    const mf = m.bundle.manifest;
    setModelStatus(
      `${mf.name}@${mf.version} (${mf.role}, ${mf.architecture.parameters.toLocaleString()} parameters) on ` +
        `${m.provider === 'webgpu' ? 'WebGPU' : 'WebAssembly'} · ${Math.round(performance.now() - started)} ms`,
      'ready',
    );
    return m;
  } catch (err) {
    model = undefined;
    const e = describeError(err, 'loading the user model');
    setModelStatus(`${e.title}`, 'error');
    showError(e.code === 'model_load_failed' || e.code === 'error' ? { ...e, code: 'model_load_failed', title: 'Model load failure' } : e);
    return undefined;
  }
}

$('load-default').addEventListener('click', () => {
  errorsEl.replaceChildren();
  loading = loadModel(defaultModelSource);
});
input('model-folder').addEventListener('change', () => {
  const files = [...(input('model-folder').files ?? [])];
  if (files.length === 0) return;
  errorsEl.replaceChildren();
  loading = loadModel(async () => ({ source: filesSource(files), name: files[0].webkitRelativePath.split('/')[0] || 'chosen folder' }));
});

/** A number field left empty: undefined (the server's default). */
function optionalNumberField(id: string, name: string, range: { min: number; max: number; integer?: boolean }): number | undefined {
  return input(id).value.trim() === '' ? undefined : numberField(id, name, range);
}

function numberField(id: string, name: string, { min, max, integer }: { min: number; max: number; integer?: boolean }): number {
  const v = Number(input(id).value);
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
    throw new RangeError(`${name} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}`);
  return v;
}

/** Renders the prompt + generated text and feeds the denoising view from the stream's chunks. */
function runPanel(article: HTMLElement, prompt: string, tokenText: (id: number) => string, eosTokenId: number | null) {
  article.dataset.state = 'running';
  const output = article.querySelector<HTMLElement>('[data-role=output]')!;
  const promptEl = Object.assign(document.createElement('span'), { className: 'prompt', textContent: prompt });
  const generated = Object.assign(document.createElement('span'), { className: 'generated', textContent: '' });
  output.replaceChildren(promptEl, generated);
  const view = new DenoiseView(article.querySelector<HTMLElement>('[data-role=denoise]')!, tokenText, eosTokenId);
  return {
    onChunk(c: CompletionChunk) {
      const s = c.ssd2 ?? {};
      if (s.progress) view.progress(s.progress as ProgressEvent);
      else if (typeof s.blocks === 'number') view.done(Number(s.steps_run), Number(s.steps_saved), s.blocks);
      else if (typeof s.block === 'number' && typeof s.steps_run === 'number')
        view.blockDone(s.block, null, s.steps_run, Number(s.steps_saved));
      const text = c.choices?.[0]?.text;
      if (text) generated.textContent += text;
    },
    finish(text: string) {
      generated.textContent = text;
      article.dataset.state = 'done';
    },
  };
}

async function generate(): Promise<void> {
  errorsEl.replaceChildren();
  const apiKey = input('api-key').value.trim();
  if (!apiKey)
    return showError({ code: 'missing_api_key', title: 'Bad API key', detail: 'enter an API key (npm start prints one: sk-ssd2-…)' });
  sessionStorage.setItem('ssd2-playground-key', apiKey);
  let settings: RunSettings;
  let lambda: number;
  try {
    settings = {
      baseUrl: location.origin,
      apiKey,
      coreModel: '',
      prompt: $<HTMLTextAreaElement>('prompt').value,
      steps: numberField('steps', 'steps', { min: 1, max: 1000, integer: true }),
      topP: numberField('top-p', 'top-p', { min: 0.01, max: 1 }),
      temperature: numberField('temperature', 'temperature', { min: 0, max: 2 }),
      blockSize: optionalNumberField('block-size', 'block size', { min: 1, max: 1000, integer: true }),
      seed: numberField('seed', 'seed', { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true }),
      maxTokens: numberField('max-tokens', 'max tokens', { min: 1, max: 1000, integer: true }),
      earlyStop: numberField('early-stop', 'early stop', { min: 0, max: 1000, integer: true }),
    };
    lambda = numberField('lambda', 'λ', { min: 0, max: 1 });
    if (!settings.prompt.trim()) throw new RangeError('enter a prompt');
  } catch (err) {
    return showError({ code: 'invalid_argument', title: 'Check the settings', detail: (err as Error).message });
  }
  const privateContext = $<HTMLTextAreaElement>('private-context').value;

  controller = new AbortController();
  runButton.disabled = true;
  stopButton.disabled = false;
  const core = $('run-core');
  const collab = $('run-collab');
  for (const a of [core, collab]) {
    a.dataset.state = 'idle';
    a.querySelector('[data-role=output]')!.replaceChildren();
    a.querySelector('[data-role=denoise]')!.replaceChildren();
  }
  collab.querySelector('[data-role=collab-note]')!.textContent = '';
  try {
    const served = await listModels(settings.baseUrl, apiKey);
    const m = await (loading ?? Promise.resolve(model));
    settings.coreModel = m && served.includes(m.bundle.manifest.name) ? m.bundle.manifest.name : served[0];
    const tokenText = (id: number) => (m ? m.codec.tokenText(id) : `#${id}`);
    const eos = m ? m.bundle.manifest.eos_token_id : null;

    const corePanel = runPanel(core, settings.prompt, tokenText, eos);
    try {
      corePanel.finish((await runCoreOnly(settings, corePanel.onChunk, controller.signal)).text);
    } catch (err) {
      // Whatever stopped the core-only run (key, policy, quota, connection) would stop the collaborative one too.
      showError(describeError(err, 'the core-only run'), core);
      return;
    }
    const note = collab.querySelector('[data-role=collab-note]')!;
    if (!m) {
      note.textContent = '(no user model loaded)';
      showError(
        {
          code: 'model_load_failed',
          title: 'No user model',
          detail: 'load the bundled model or pick a bundle folder to run the collaborative side',
        },
        collab,
      );
      return;
    }
    note.textContent = `(${m.bundle.manifest.name}, λ = ${lambda}${privateContext.trim() ? ', private context' : ''})`;
    const collabPanel = runPanel(collab, settings.prompt, tokenText, eos);
    try {
      const r = await runCollaborative(settings, m, privateContext, lambda, collabPanel.onChunk, controller.signal);
      collabPanel.finish(r.text);
      collab.dataset.stepsAnswered = String(r.stepsAnswered ?? 0);
      note.textContent =
        `(${m.bundle.manifest.name} on ${m.provider === 'webgpu' ? 'WebGPU' : 'WebAssembly'} answered ` +
        `${r.stepsAnswered ?? 0} steps, λ = ${lambda}${privateContext.trim() ? ', private context' : ''})`;
    } catch (err) {
      showError(describeError(err, 'the collaborative run'), collab);
    }
  } catch (err) {
    showError(describeError(err, 'the edge'));
  } finally {
    runButton.disabled = false;
    stopButton.disabled = true;
  }
}

$('settings').addEventListener('submit', (e) => {
  e.preventDefault();
  void generate();
});
stopButton.addEventListener('click', () => controller?.abort());

const legend = $('legend');
legend.append('positions coloured by steps since their argmax last changed: ');
for (const age of [0, 3, 6, 12]) {
  const sw = Object.assign(document.createElement('span'), { className: 'legend-swatch', title: `${age} steps` });
  sw.style.background = recencyColour(age);
  legend.append(sw, `${age}${age === 12 ? '+' : ''} `);
}
legend.append(' · grey = the block is final');

input('api-key').value = new URLSearchParams(location.hash.slice(1)).get('key') ?? sessionStorage.getItem('ssd2-playground-key') ?? '';
loading = loadModel(defaultModelSource);
