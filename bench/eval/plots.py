#!/usr/bin/env python3
"""Pictures for models/EVAL.md: loss curves, F1 against lambda, quality against steps.
usage: plots.py eval.json OUT_DIR [run.loss.jsonl ...]; prints the PNG names it wrote."""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    results = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    written = []
    runs = sys.argv[3:]
    if runs:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for path in runs:
            rows = [json.loads(l) for l in open(path) if l.strip()]
            ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], linewidth=0.8, label=os.path.basename(path).replace(".loss.jsonl", ""))
        ax.set_xlabel("step"), ax.set_ylabel("training loss"), ax.set_title("Training loss"), ax.legend(fontsize=7, ncol=2)
        fig.tight_layout(), fig.savefig(os.path.join(out, "loss.png"), dpi=110), written.append("loss.png")
    if results.get("f1ByLambda"):
        pts = results["f1ByLambda"]
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot([p["lambda"] for p in pts], [p["f1"] for p in pts], marker="o", label="diffusion (SSD-2)")
        if results.get("arF1ByLambda"):
            ar = results["arF1ByLambda"]
            ax.plot([p["lambda"] for p in ar], [p["f1"] for p in ar], marker="s", label="autoregressive baseline")
            ax.legend()
        ax.set_xlabel("λ (user model weight)"), ax.set_ylabel("answer F1"), ax.set_title("Context QA: F1 against λ")
        fig.tight_layout(), fig.savefig(os.path.join(out, "f1-lambda.png"), dpi=110), written.append("f1-lambda.png")
    if results.get("steps"):
        rows = results["steps"]
        fig, ax1 = plt.subplots(figsize=(5, 3.2))
        ax1.plot([r["steps"] for r in rows], [r["fluency ppl"] for r in rows], marker="o", color="tab:blue")
        ax1.set_xlabel("denoising steps per block"), ax1.set_ylabel("trigram perplexity", color="tab:blue")
        ax2 = ax1.twinx()
        ax2.plot([r["steps"] for r in rows], [r["QA F1 (λ=0.5)"] for r in rows], marker="s", color="tab:red")
        ax2.set_ylabel("QA F1 (λ=0.5)", color="tab:red"), ax1.set_title("Quality against steps")
        fig.tight_layout(), fig.savefig(os.path.join(out, "quality-steps.png"), dpi=110), written.append("quality-steps.png")
    print("\n".join(written))


if __name__ == "__main__":
    main()
