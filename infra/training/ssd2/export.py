"""Export a model to the SSD-2 bundle format (docs/model-bundle.md)."""
import hashlib
import inspect
import json
import os
import shutil

import torch

from .model import SSD2Model

FORMAT_VERSION = 1
CONTEXT_ENCODER_IO = (["input_ids", "position_ids", "past_keys", "past_values", "attention_mask"],
                      ["present_keys", "present_values"])
LM_IO = (CONTEXT_ENCODER_IO[0], ["logits", "present_keys", "present_values"])
DENOISER_IO = (["simplex_logits", "self_cond_logits", "timestep", "position_ids", "past_keys", "past_values",
                "past_mask"], ["logits"])
# A shifted model (ModelConfig.shifted) passes the last context token's hidden state from one graph to the other.
LAST_HIDDEN, CONTEXT_HIDDEN = "last_hidden", "context_hidden"
KV_AXES = {1: "batch", 3: "past"}
# The context encoder's dynamic axes; the AR baseline's lm.onnx is the same graph plus logits.
CONTEXT_ENCODER_AXES = {"input_ids": {0: "batch", 1: "new"}, "position_ids": {0: "batch", 1: "new"},
                        "past_keys": KV_AXES, "past_values": KV_AXES, "attention_mask": {0: "batch", 1: "total"},
                        "present_keys": {1: "batch", 3: "total"}, "present_values": {1: "batch", 3: "total"}}


class GraphView(torch.nn.Module):
    """One of the model's inference views (`encode_context`, `lm_step`, `denoise`) as an exportable module."""

    def __init__(self, model, view):
        super().__init__()
        self.model = model
        self.view = view

    def forward(self, *inputs):
        return getattr(self.model, self.view)(*inputs)


def example_inputs(model, n=2, past=3, s=4):
    c = model.cfg
    kv = torch.randn(c.layers, n, c.heads, past, c.head_dim)
    ctx = (torch.randint(0, c.vocab_size, (n, s)), torch.arange(past, past + s).repeat(n, 1), kv, kv.clone(),
           torch.ones(n, past + s))
    b = c.block_size
    timestep = torch.rand(n, b) if c.stagger_window else torch.rand(n)
    den = (torch.randn(n, b, c.vocab_size), torch.randn(n, b, c.vocab_size), timestep,
           torch.arange(past, past + b).repeat(n, 1), kv, kv.clone(), torch.ones(n, past))
    if c.shifted:
        den += (torch.randn(n, c.hidden),)
    return ctx, den


def bundle_io(cfg):
    """The graphs' input/output names and dynamic axes for this model (shifted adds the hidden-state handoff)."""
    ctx_in, ctx_out = CONTEXT_ENCODER_IO
    den_in, den_out = DENOISER_IO
    ctx_axes = dict(CONTEXT_ENCODER_AXES)
    den_axes = {"simplex_logits": {0: "batch", 1: "block"}, "self_cond_logits": {0: "batch", 1: "block"},
                "timestep": {0: "batch", 1: "block"} if cfg.stagger_window else {0: "batch"}, "position_ids": {0: "batch", 1: "block"}, "past_keys": KV_AXES,
                "past_values": KV_AXES, "past_mask": {0: "batch", 1: "past"}, "logits": {0: "batch", 1: "block"}}
    if cfg.shifted:
        ctx_out, den_in = ctx_out + [LAST_HIDDEN], den_in + [CONTEXT_HIDDEN]
        ctx_axes[LAST_HIDDEN] = {0: "batch"}
        den_axes[CONTEXT_HIDDEN] = {0: "batch"}
    return (ctx_in, ctx_out), ctx_axes, (den_in, den_out), den_axes


def staggered_schedule(cfg):
    """The manifest's block_schedule of a staggered model (docs/model-bundle.md)."""
    schedule = {"kind": "staggered", "window": cfg.stagger_window}
    if cfg.stagger_stride and cfg.stagger_stride != cfg.stagger_window:
        schedule["stride"] = cfg.stagger_stride
    return schedule


def _export(module, args, path, names, dynamic_axes, opset):
    kwargs = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript exporter gives the same graph on torch 1.13 and 2.x
    torch.onnx.export(module, args, path, input_names=names[0], output_names=names[1],
                      dynamic_axes=dynamic_axes, opset_version=opset, do_constant_folding=True, **kwargs)


def store_weights_fp16(path):
    """Stores large float32 initializers as float16 followed by a Cast to float32: half the file
    size, same float32 arithmetic (onnxruntime folds the casts when it loads the graph)."""
    import onnx
    model = onnx.load(path)
    weights_fp16(model)
    onnx.save(model, path)


def weights_fp16(model):
    """store_weights_fp16 on a loaded graph, in place."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    graph = model.graph
    inits, casts = [], []
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= 1024:
            half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "__fp16")
            inits.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
        else:
            inits.append(init)
    del graph.initializer[:]
    graph.initializer.extend(inits)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)


def export_causal_lm(model: SSD2Model, out_dir, tokenizer_path, name, training=None, opset=17,
                     weights_dtype="float32"):
    """The autoregressive baseline (evaluation only, not a servable bundle): lm.onnx is the context
    encoder with next-token logits, so generation feeds one token at a time against the cache."""
    c = model.cfg
    model = model.eval().float().cpu()
    os.makedirs(out_dir, exist_ok=True)
    ctx_args, _ = example_inputs(model)
    with torch.no_grad():
        _export(GraphView(model, "lm_step"), ctx_args, os.path.join(out_dir, "lm.onnx"), LM_IO,
                {**CONTEXT_ENCODER_AXES, "logits": {0: "batch", 1: "new"}}, opset)
    if weights_dtype == "float16":
        store_weights_fp16(os.path.join(out_dir, "lm.onnx"))
    shutil.copyfile(tokenizer_path, os.path.join(out_dir, "tokenizer.json"))
    used = [p for n, p in model.named_parameters() if not n.startswith(("simplex_in", "t_emb"))]
    manifest = {"format": "causal-lm-baseline", "name": name, "vocab_size": c.vocab_size,
                "eos_token_id": c.eos_token_id, "max_positions": c.max_positions,
                "architecture": {"layers": c.layers, "hidden": c.hidden, "heads": c.heads, "head_dim": c.head_dim,
                                 "ffn": c.ffn, "positions": c.positions,
                                 "parameters": sum(p.numel() for p in used), "dtype": weights_dtype},
                "graph": "lm.onnx", "tokenizer": "tokenizer.json", "training": training or {}}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_bundle(model: SSD2Model, out_dir, tokenizer_path, name, role, max_context=None, training=None,
                  version="0.1.0", opset=17, weights_dtype="float32"):
    c = model.cfg
    model = model.eval().float().cpu()
    os.makedirs(out_dir, exist_ok=True)
    ctx_args, den_args = example_inputs(model)
    ctx_io, ctx_axes, den_io, den_axes = bundle_io(c)
    with torch.no_grad():
        _export(GraphView(model, "encode_context"), ctx_args, os.path.join(out_dir, "context_encoder.onnx"),
                ctx_io, ctx_axes, opset)
        _export(GraphView(model, "denoise"), den_args, os.path.join(out_dir, "denoiser.onnx"), den_io, den_axes,
                opset)
    if weights_dtype == "float16":
        for graph in ("context_encoder.onnx", "denoiser.onnx"):
            store_weights_fp16(os.path.join(out_dir, graph))
    shutil.copyfile(tokenizer_path, os.path.join(out_dir, "tokenizer.json"))
    files = []
    for fname in ("tokenizer.json", "context_encoder.onnx", "denoiser.onnx"):
        path = os.path.join(out_dir, fname)
        files.append({"path": fname, "bytes": os.path.getsize(path), "sha256": sha256_file(path)})
    manifest = {
        "format": "ssd2-bundle",
        "format_version": FORMAT_VERSION,
        "name": name,
        "version": version,
        "role": role,
        "tokenizer": "tokenizer.json",
        "vocab_size": c.vocab_size,
        "eos_token_id": c.eos_token_id,
        "simplex_k": c.simplex_k,
        "schedule": c.schedule,
        "t_train": c.t_train,
        "block_size": c.block_size,
        "max_context": max_context if max_context is not None else c.max_positions - c.block_size,
        "timestep_range": list(c.timestep_range),
        "self_conditioning": c.self_conditioning,
        "block_schedule": staggered_schedule(c) if c.stagger_window else {"kind": "shared"},
        "architecture": {
            "type": "ssd2-transformer",
            "layers": c.layers,
            "hidden": c.hidden,
            "heads": c.heads,
            "head_dim": c.head_dim,
            "ffn": c.ffn,
            "max_positions": c.max_positions,
            "positions": c.positions,
            "readout": "shifted" if c.shifted else "aligned",
            "likelihood": c.likelihood,
            "block_attention": c.block_attention,
            "parameters": sum(p.numel() for p in model.parameters()),
            "dtype": weights_dtype,  # of the stored weights; arithmetic is float32
        },
        "graphs": {"context_encoder": "context_encoder.onnx", "denoiser": "denoiser.onnx"},
        "files": files,
    }
    if training:
        manifest["training"] = training
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest
