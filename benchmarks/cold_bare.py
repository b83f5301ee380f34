"""The bare-loop script that the cold ``batchlab train configs/digits.yaml`` process is compared with.

It does the same work by hand, in one file: load digits, split 70/15/15 (stratified, seed 0),
standardize with training statistics, the same MLP (64→256→128→10, ReLU, dropout 0.1), SGD with
Nesterov momentum and weight decay under the same warmup + cosine schedule, batch 32, validation after
every epoch, test accuracy at the end, weights saved. ``--epochs`` is the number of epochs the batchlab
run trained (it stops early), so both do the same number of steps.

    python benchmarks/cold_bare.py --epochs 29 --out /tmp/weights.pt
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)

    digits = load_digits()
    x, y = digits.data.astype(np.float32), digits.target
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
    x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=0)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-8
    tensors = [torch.from_numpy((a - mean) / std) for a in (x_train, x_val, x_test)]
    (xt, xv, xs), (yt, yv, ys) = tensors, [torch.from_numpy(a).long() for a in (y_train, y_val, y_test)]

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Dropout(0.1),
        torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Dropout(0.1),
        torch.nn.Linear(128, 10),
    )  # fmt: skip
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    batch, warmup = 32, 40
    total = args.epochs * math.ceil(len(xt) / batch)

    def rate(step: int) -> float:
        t = min(1.0, max(0.0, (step - warmup) / (total - warmup)))
        return min(1.0, (step + 1) / (warmup + 1)) * 0.5 * (1 + math.cos(math.pi * t))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), batch):
            rows = perm[i : i + batch]
            loss = F.cross_entropy(model(xt[rows]), yt[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        with torch.no_grad():
            val_loss = F.cross_entropy(model(xv), yv).item()
            val_acc = (model(xv).argmax(1) == yv).float().mean().item()
        print(f"epoch {epoch + 1} loss {loss.item():.4f} val_loss {val_loss:.4f} val_acc {val_acc:.4f}")
    with torch.no_grad():
        print(f"test accuracy {(model(xs).argmax(1) == ys).float().mean().item():.4f}")
    torch.save(model.state_dict(), args.out)


if __name__ == "__main__":
    main()
