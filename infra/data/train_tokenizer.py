#!/usr/bin/env python3
"""Trains the byte-level BPE tokenizer on the prepared training text (Hugging Face `tokenizers`).

  python3 train_tokenizer.py --vocab 4096 --out tokenizer.json corpus1.txt [corpus2.txt ...]

Byte-level like GPT-2's (no unknown tokens, every byte string round-trips); <|endoftext|> is the
last id (vocab - 1) so EOS stays put when the vocabulary size changes. The JSON is read by
@huggingface/tokenizers on the TypeScript side, which does all the encoding.
"""
import argparse
import json

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

EOS = "<|endoftext|>"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--out", required=True)
    p.add_argument("files", nargs="+")
    a = p.parse_args()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=a.vocab - 1, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train(a.files, trainer)
    tok.add_special_tokens([EOS])
    eos = tok.token_to_id(EOS)
    if eos != a.vocab - 1:
        raise SystemExit(f"expected {EOS} at id {a.vocab - 1}, got {eos} (corpus too small for --vocab {a.vocab}?)")
    tok.save(a.out)
    print(json.dumps({"vocab_size": tok.get_vocab_size(), "eos_token_id": eos, "merges": a.vocab - 257}))


if __name__ == "__main__":
    main()
