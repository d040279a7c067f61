#!/usr/bin/python3
"""The PyTorch side of make bench's training row: the digits CNN of
examples/digits/digits.yaml trained as a PyTorch user would write it
(Adam lr 2e-3, batch 32, DataLoader with shuffle and drop_last), one
thread.  Prints `epoch SECONDS` for each of EPOCHS epochs (argv[1],
default 5) and the test accuracy after them."""
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.manual_seed(0)
D = "examples/digits/data/"
x = torch.from_numpy(np.load(D + "x_train.npy"))
y = torch.from_numpy(np.load(D + "y_train.npy"))
tx = torch.from_numpy(np.load(D + "x_test.npy"))
ty = torch.from_numpy(np.load(D + "y_test.npy"))
model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y),
                                   batch_size=32, shuffle=True, drop_last=True)
for epoch in range(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
    t0 = time.perf_counter()
    for xb, yb in data:
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
    print("epoch %.6f" % (time.perf_counter() - t0))
with torch.no_grad():
    acc = (model(tx).argmax(1) == ty).float().mean().item()
print("accuracy %.4f" % acc)
