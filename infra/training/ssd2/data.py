"""Batches in the block layout. Tokenisation happens on the TypeScript side (one tokenizer
implementation, @huggingface/tokenizers), which writes uint32 token streams and id JSONL."""
import json
import numpy as np
import torch


def load_stream(path):
    """uint32 little-endian token ids (documents separated by EOS)."""
    return torch.from_numpy(np.fromfile(path, dtype="<u4").astype(np.int64))


class StreamBatches:
    """Random windows of a token stream; blocks start at a random offset per sequence so the
    model sees every context length, not only multiples of B. `min_context` tokens always precede
    a block (a shifted model reads its first token out from the last context token)."""

    def __init__(self, stream, seq_len, block_size, generator, min_context=0):
        if stream.numel() < seq_len + 1:
            raise ValueError(f"token stream has {stream.numel()} tokens, fewer than --seq-len {seq_len}")
        self.stream, self.L, self.B, self.g, self.min_context = stream, seq_len, block_size, generator, min_context

    def sample(self, n):
        L, B = self.L, self.B
        starts = torch.randint(0, self.stream.numel() - L, (n,), generator=self.g)
        ids = torch.stack([self.stream[s:s + L] for s in starts.tolist()])
        nb = L // B
        offset = torch.randint(self.min_context, self.min_context + B, (n, 1), generator=self.g)
        block_start = offset + torch.arange(nb).unsqueeze(0) * B
        block_valid = (block_start + B <= L).long()
        block_start = torch.where(block_valid.bool(), block_start, torch.zeros_like(block_start))
        ones = torch.ones(n, L, dtype=torch.long)
        return ids, ones, block_start, block_valid, ones.float()


class InstructionBatches:
    """{prompt_ids, response_ids} lines (built by infra/data from {instruction, context, response}).
    The response (+EOS, padded with EOS to whole blocks) is diffused block by block after the
    prompt; the loss covers response blocks only. The padding after the answer's EOS is weighted
    by `pad_weight`: at full weight short answers make EOS most of the targets and the model learns
    to answer with EOS at once."""

    def __init__(self, path, seq_len, block_size, eos_id, generator, pad_weight=0.1):
        self.rows = []
        with open(path) as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if "prompt_ids" not in row or "response_ids" not in row:
                    raise ValueError(f"{path}:{line_no}: expected fields prompt_ids and response_ids")
                self.rows.append((row["prompt_ids"], row["response_ids"]))
        if not self.rows:
            raise ValueError(f"{path}: no instruction rows")
        self.L, self.B, self.eos, self.g, self.pad_weight = seq_len, block_size, eos_id, generator, pad_weight

    def sample(self, n):
        L, B = self.L, self.B
        nb = L // B
        ids = torch.full((n, L), self.eos, dtype=torch.long)
        key_valid = torch.zeros(n, L, dtype=torch.long)
        block_start = torch.zeros(n, nb, dtype=torch.long)
        block_valid = torch.zeros(n, nb, dtype=torch.long)
        weight = torch.zeros(n, L)  # 1 on the answer and its EOS, pad_weight on the padding
        for r, idx in enumerate(torch.randint(0, len(self.rows), (n,), generator=self.g).tolist()):
            prompt, response = self.rows[idx]
            response = response + [self.eos]
            blocks = min(-(-len(response) // B), max(1, (L - 1) // B))
            prompt = prompt[-(L - blocks * B):]  # keep the end of a long prompt
            seq = (prompt + response + [self.eos] * (blocks * B))[: len(prompt) + blocks * B]
            ids[r, : len(seq)] = torch.tensor(seq)
            key_valid[r, : len(seq)] = 1
            block_start[r, :blocks] = len(prompt) + torch.arange(blocks) * B
            block_valid[r, :blocks] = 1
            answer_end = min(len(prompt) + len(response), len(seq))
            weight[r, len(prompt):answer_end] = 1
            weight[r, answer_end:len(seq)] = self.pad_weight
        return ids, key_valid, block_start, block_valid, weight
