# Attempt 8 of docs/results.md, step 2 (a diagnostic with /usr/bin/python3 and Debian's python3-torch, not product
# code): can a ViT of the tiny preset's vision shape count the counting scenes when trained on the count directly?
# Usage: cd OUT_OF_vision_count_dump && python3 vision_count_probe.py [lr=3e-4] [minutes=6] [nopos]
import sys, time, numpy as np, torch, torch.nn as nn
torch.manual_seed(0); torch.set_num_threads(1)
W, H, P = 168, 112, 14
x = np.fromfile("imgs.u8", dtype=np.uint8).reshape(-1, H, W, 3)
y = np.fromfile("counts.u8", dtype=np.uint8).astype(np.int64) - 3
mean = np.array([0.8667, 0.8627, 0.8431], dtype=np.float32); std = np.array([0.2686, 0.2613, 0.2758], dtype=np.float32)
def prep(a):
    a = (a.astype(np.float32) / 255 - mean) / std
    a = a.reshape(-1, H // P, P, W // P, P, 3).transpose(0, 1, 3, 2, 4, 5).reshape(-1, (H // P) * (W // P), P * P * 3)
    return torch.from_numpy(np.ascontiguousarray(a))
X = prep(x); Y = torch.from_numpy(y)
ntr = 10000
lr = float(sys.argv[1]) if len(sys.argv) > 1 else 3e-4
minutes = float(sys.argv[2]) if len(sys.argv) > 2 else 6
nopos = len(sys.argv) > 3 and sys.argv[3] == "nopos"
class ViT(nn.Module):
    def __init__(s, d=128, L=4):
        super().__init__()
        s.emb = nn.Linear(P * P * 3, d); s.pos = nn.Parameter(torch.zeros(1, X.shape[1], d))
        s.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, 4, 4 * d, 0.0, batch_first=True, norm_first=True), L)
        s.head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 6))
    def forward(s, a): return s.head(s.enc(s.emb(a) + (0 if nopos else s.pos)).mean(1))
m = ViT(); opt = torch.optim.AdamW(m.parameters(), lr=lr, weight_decay=0.1)
def acc():
    m.eval()
    with torch.no_grad(): p = torch.cat([m(X[i:i + 500]).argmax(-1) for i in range(ntr, len(X), 500)])
    m.train(); return (p == Y[ntr:]).float().mean().item()
t0 = time.time(); step = 0
print(f"lr {lr}; majority {np.bincount(y[ntr:]).max() / len(y[ntr:]):.3f}", flush=True)
while time.time() - t0 < minutes * 60:
    idx = torch.randint(0, ntr, (64,))
    loss = nn.functional.cross_entropy(m(X[idx]), Y[idx])
    opt.zero_grad(); loss.backward(); opt.step(); step += 1
    if step % 250 == 0: print(f"step {step} ({step * 64} images, {time.time() - t0:.0f}s) loss {loss.item():.3f} held-out acc {acc():.3f}", flush=True)
print(f"final step {step} held-out acc {acc():.3f}", flush=True)
