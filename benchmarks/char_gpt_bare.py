"""A bare PyTorch character GPT on Tiny Shakespeare: the anchor that batchlab's language model is timed against.

It is the script people write (the shape of nanoGPT's CPU example, written here from scratch): the text
as one tensor of character ids, the first 90% for training and the rest for validation; each step draws
``batch`` random windows of ``context`` characters; a 4-layer, 4-head, width-128 GPT with GPT-2
initialization (normal 0.02, residual projections scaled by 1/sqrt(2 layers), tied embeddings); AdamW
1e-3, betas (0.9, 0.99), weight decay 0.1 on matrices only, 100 warmup steps and cosine decay to 1e-4,
gradient clipping at 1. Every ``--eval-every`` steps the whole validation section is evaluated in
non-overlapping windows (as batchlab evaluates), and the loss is printed as a JSON line with the
wall seconds since the start of training (evaluation included).

    python -m benchmarks.char_gpt_bare --steps 4000 --eval-every 250 --target 1.88
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare" / "input.txt"


class Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.up, self.down = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = (
            p.view(b, t, self.heads, c // self.heads).transpose(1, 2) for p in self.qkv(self.norm1(x)).split(c, 2)
        )
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, c)
        x = x + self.proj(y)
        return x + self.down(F.gelu(self.up(self.norm2(x))))


class CharGPT(nn.Module):
    def __init__(self, vocab: int, context: int, width: int = 128, layers: int = 4, heads: int = 4) -> None:
        super().__init__()
        self.tokens, self.positions = nn.Embedding(vocab, width), nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.tokens.weight
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block in self.blocks:
            for projection in (block.proj, block.down):
                nn.init.normal_(projection.weight, std=0.02 / math.sqrt(2 * layers))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tokens(ids) + self.positions(torch.arange(ids.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--target", type=float, default=1.88)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    text = DATA.read_text(encoding="utf-8")
    cut = int(0.9 * len(text))
    chars = sorted(set(text[:cut]))
    index = {c: i for i, c in enumerate(chars)}
    train = torch.tensor([index[c] for c in text[:cut]], dtype=torch.long)
    val = torch.tensor([index.get(c, 0) for c in text[cut:]], dtype=torch.long)
    context, batch = args.context, args.batch
    windows = (len(val) - 1) // context
    val_x = torch.stack([val[i * context : (i + 1) * context] for i in range(windows)])
    val_y = torch.stack([val[i * context + 1 : (i + 1) * context + 1] for i in range(windows)])

    model = CharGPT(len(chars), context)
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": matrices, "weight_decay": 0.1}, {"params": others, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.99), fused=True)

    def lr_at(step: int) -> float:
        if step < 100:
            return 1e-3 * (step + 1) / 101
        progress = (step - 100) / max(1, args.steps - 100)
        return 1e-4 + 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))) * (1e-3 - 1e-4)

    @torch.no_grad()
    def val_loss() -> float:
        model.eval()
        total = 0.0
        for i in range(0, windows, 512):
            logits = model(val_x[i : i + 512])
            total += F.cross_entropy(logits.flatten(0, 1), val_y[i : i + 512].flatten(), reduction="sum").item()
        model.train()
        return total / (windows * context)

    offsets = torch.arange(context + 1)
    start = time.perf_counter()
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        starts = torch.randint(len(train) - context - 1, (batch,))
        chunk = train[starts.unsqueeze(1) + offsets]
        logits = model(chunk[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if (step + 1) % args.eval_every == 0:
            value = val_loss()
            row = {"step": step + 1, "val_loss": value, "seconds": time.perf_counter() - start}
            print(json.dumps(row), flush=True)
            if value <= args.target:
                break


if __name__ == "__main__":
    main()
