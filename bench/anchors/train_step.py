#!/usr/bin/env python3
"""PyTorch anchor of `npm run bench -- train`: the SFT step and the GRPO step written in plain PyTorch eager, the way a
user of Hugging Face transformers + TRL would run them, on the batches our trainer used (bench/train.ts exports them).

The model math is that of scripts/fixtures/qwen2vl_reference.py (a re-implementation of HF's modeling_qwen2_vl.py:
Conv3d patch embedding, 2D vision rotary, vision blocks with attention per image, PatchMerger, the Qwen2 decoder with
GQA, RMSNorm, SwiGLU, M-RoPE and get_rope_index, eager attention with an additive mask), parametrised by the
checkpoint's config.json and held as nn.Parameters so autograd and torch.optim.AdamW work as in a Trainer.

SFT step (HF Trainer + a LLaMA-Factory/TRL SFT collator): per micro-batch, prompt + target right-padded, labels -100
on the prompt and the padding; forward with full logits, shifted cross-entropy (mean over the label tokens) divided by
the accumulation steps, backward; then clip_grad_norm_, AdamW step, scheduler step, zero_grad. The vision tower and
merger are frozen (requires_grad False), as the recipe sets.

GRPO step (TRL 0.15's GRPOTrainer, one process): per micro-batch of `per_device_train_batch_size` completions, the
prompts repeated G times (the processor sees G copies; the vision tower runs on every copy, no prefix sharing),
`model.generate`-style sampling with a KV cache grown by torch.cat (temperature, top-k, top-p, multinomial), a
fixed number of new tokens (no stop token: bench/train.ts removes them on our side too), rewards (format regex and
the <answer> number, on the decoded text), group advantages (unbiased std + 1e-4), the reference model's per-token
log-probs under no_grad (logits of the completion positions only, TRL's logits_to_keep), then the policy's with
autograd, loss = -(exp(logp - logp.detach()) * A - beta * k3) per-sequence token mean, batch mean, divided by the
accumulation steps, backward; after the last micro-batch clip_grad_norm_, AdamW, zero_grad.

Run: /usr/bin/python3 bench/anchors/train_step.py {sft|grpo} --model DIR --work FILE.json [--threads N] [--json]
Prints one JSON object per optimizer step ({"step": k, "seconds": ..., ...}); the first is a warm-up for the caller.
"""
import argparse
import json
import math
import os
import re
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------------------------------
# files
def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = bytearray(f.read())
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        assert meta["dtype"] == "F32", f"{path}: {name} is {meta['dtype']}; the anchor reads float32 checkpoints"
        a, b = meta["data_offsets"]
        out[name] = torch.frombuffer(data, dtype=torch.float32, offset=a, count=(b - a) // 4).view(meta["shape"]).clone()
    return out


def byte_decoder(tokenizer_json):
    """Byte-level BPE id -> bytes (GPT-2's bytes_to_unicode inverse), for decoding completions as a processor would."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    u2b = {chr(c): b for b, c in zip(bs, cs)}
    vocab = tokenizer_json["model"]["vocab"]
    table = {}
    for tok, i in vocab.items():
        table[i] = bytes(u2b.get(ch, 0) for ch in tok)
    for t in tokenizer_json.get("added_tokens", []):
        table[t["id"]] = t["content"].encode()
    return table


# ---------------------------------------------------------------------------------------------------------------
# the model (HF Qwen2-VL math, as scripts/fixtures/qwen2vl_reference.py)
def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class Qwen2VL(nn.Module):
    def __init__(self, cfg, weights):
        super().__init__()
        self.cfg = cfg
        v = cfg["vision_config"]
        self.E, self.VNH, self.M = v["embed_dim"], v["num_heads"], v["spatial_merge_size"]
        self.VHD = self.E // self.VNH
        self.H, self.NH, self.KVH = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.HD = self.H // self.NH
        self.L, self.VD = cfg["num_hidden_layers"], v["depth"]
        self.params = nn.ParameterDict({k.replace(".", "__"): nn.Parameter(t) for k, t in weights.items()})
        self.tied = cfg.get("tie_word_embeddings", False) or "lm_head.weight" not in weights

    def w(self, name):
        return self.params[name.replace(".", "__")]

    # vision ------------------------------------------------------------------------------------------------------
    def rot_pos_emb(self, grid_thw):
        dim = self.VHD // 2
        M = self.M
        inv_freq = 1.0 / (10000.0 ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
        pos_ids = []
        for t, h, w in grid_thw:
            hpos = torch.arange(h).unsqueeze(1).expand(-1, w).reshape(h // M, M, w // M, M).permute(0, 2, 1, 3).flatten()
            wpos = torch.arange(w).unsqueeze(0).expand(h, -1).reshape(h // M, M, w // M, M).permute(0, 2, 1, 3).flatten()
            pos_ids.append(torch.stack([hpos, wpos], dim=-1).repeat(t, 1))
        pos_ids = torch.cat(pos_ids, dim=0)
        max_grid = int(max(max(g[1], g[2]) for g in grid_thw))
        full = torch.outer(torch.arange(max_grid, dtype=torch.float), inv_freq)
        return full[pos_ids].flatten(1)

    def vision_block(self, i, x, lengths, cos, sin):
        b, E, VNH, VHD = f"visual.blocks.{i}", self.E, self.VNH, self.VHD
        h = F.layer_norm(x, (E,), self.w(f"{b}.norm1.weight"), self.w(f"{b}.norm1.bias"), 1e-6)
        n = h.shape[0]
        qkv = F.linear(h, self.w(f"{b}.attn.qkv.weight"), self.w(f"{b}.attn.qkv.bias"))
        q, k, v = qkv.reshape(n, 3, VNH, -1).permute(1, 0, 2, 3).unbind(0)
        c, s = cos.unsqueeze(-2), sin.unsqueeze(-2)
        q = q * c + rotate_half(q) * s
        k = k * c + rotate_half(k) * s
        q, k, v = (t.transpose(0, 1).unsqueeze(0) for t in (q, k, v))
        outs = []
        for qq, kk, vv in zip(*(torch.split(t, lengths, dim=2) for t in (q, k, v))):
            a = torch.matmul(qq, kk.transpose(2, 3)) * VHD ** -0.5
            a = F.softmax(a, dim=-1, dtype=torch.float32)
            outs.append(torch.matmul(a, vv).transpose(1, 2))
        a = torch.cat(outs, dim=1).reshape(n, -1)
        x = x + F.linear(a, self.w(f"{b}.attn.proj.weight"), self.w(f"{b}.attn.proj.bias"))
        h = F.layer_norm(x, (E,), self.w(f"{b}.norm2.weight"), self.w(f"{b}.norm2.bias"), 1e-6)
        f1 = F.linear(h, self.w(f"{b}.mlp.fc1.weight"), self.w(f"{b}.mlp.fc1.bias"))
        f1 = f1 * torch.sigmoid(1.702 * f1)
        return x + F.linear(f1, self.w(f"{b}.mlp.fc2.weight"), self.w(f"{b}.mlp.fc2.bias"))

    def visual(self, pixel_values, grid_thw):
        E = self.E
        x = pixel_values.view(-1, 3, 2, 14, 14)
        x = F.conv3d(x, self.w("visual.patch_embed.proj.weight"), None, stride=(2, 14, 14)).view(-1, E)
        rot = self.rot_pos_emb(grid_thw)
        emb = torch.cat((rot, rot), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        lengths = [h * w for t, h, w in grid_thw for _ in range(t)]
        for i in range(self.VD):
            x = self.vision_block(i, x, lengths, cos, sin)
        y = F.layer_norm(x, (E,), self.w("visual.merger.ln_q.weight"), self.w("visual.merger.ln_q.bias"), 1e-6)
        y = y.view(-1, 4 * E)
        y = F.gelu(F.linear(y, self.w("visual.merger.mlp.0.weight"), self.w("visual.merger.mlp.0.bias")))
        return F.linear(y, self.w("visual.merger.mlp.2.weight"), self.w("visual.merger.mlp.2.bias"))

    # text --------------------------------------------------------------------------------------------------------
    def rms(self, x, w):
        x32 = x.float()
        return w * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.cfg["rms_norm_eps"])).to(x.dtype)

    def cos_sin(self, position_ids):  # [3, B, T] -> mrope-selected cos, sin [B, 1, T, HD]
        HD = self.HD
        inv_freq = 1.0 / (self.cfg["rope_theta"] ** (torch.arange(0, HD, 2, dtype=torch.int64).float() / HD))
        inv = inv_freq[None, None, :, None].expand(3, position_ids.shape[1], -1, 1)
        freqs = (inv @ position_ids[:, :, None, :].float()).transpose(2, 3)
        emb = torch.cat((freqs, freqs), dim=-1)
        sec = self.cfg["rope_scaling"]["mrope_section"] * 2
        sel = lambda cs: torch.cat([m[i % 3] for i, m in enumerate(cs.split(sec, dim=-1))], dim=-1).unsqueeze(1)
        return sel(emb.cos()), sel(emb.sin())

    def layer(self, i, x, cos, sin, mask, cache):
        l, HD, NH, KVH = f"model.layers.{i}", self.HD, self.NH, self.KVH
        B, T, _ = x.shape
        h = self.rms(x, self.w(f"{l}.input_layernorm.weight"))
        q = F.linear(h, self.w(f"{l}.self_attn.q_proj.weight"), self.w(f"{l}.self_attn.q_proj.bias"))
        k = F.linear(h, self.w(f"{l}.self_attn.k_proj.weight"), self.w(f"{l}.self_attn.k_proj.bias"))
        v = F.linear(h, self.w(f"{l}.self_attn.v_proj.weight"), self.w(f"{l}.self_attn.v_proj.bias"))
        q, k, v = (t.view(B, T, -1, HD).transpose(1, 2) for t in (q, k, v))
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:  # HF DynamicCache: concatenate along the sequence
            if len(cache) > i:
                k = torch.cat([cache[i][0], k], dim=2)
                v = torch.cat([cache[i][1], v], dim=2)
                cache[i] = (k, v)
            else:
                cache.append((k, v))
        S = k.shape[2]
        rep = NH // KVH
        k = k[:, :, None].expand(B, KVH, rep, S, HD).reshape(B, NH, S, HD)  # repeat_kv
        v = v[:, :, None].expand(B, KVH, rep, S, HD).reshape(B, NH, S, HD)
        a = torch.matmul(q, k.transpose(2, 3)) * HD ** -0.5 + mask
        a = F.softmax(a, dim=-1, dtype=torch.float32)
        a = torch.matmul(a, v).transpose(1, 2).reshape(B, T, -1)
        x = x + F.linear(a, self.w(f"{l}.self_attn.o_proj.weight"))
        h = self.rms(x, self.w(f"{l}.post_attention_layernorm.weight"))
        g = F.silu(F.linear(h, self.w(f"{l}.mlp.gate_proj.weight"))) * F.linear(h, self.w(f"{l}.mlp.up_proj.weight"))
        return x + F.linear(g, self.w(f"{l}.mlp.down_proj.weight"))

    def head(self, x):
        x = self.rms(x, self.w("model.norm.weight"))
        return F.linear(x, self.w("model.embed_tokens.weight") if self.tied else self.w("lm_head.weight"))

    def get_rope_index(self, input_ids, grids, attention_mask, prompt_cols):
        """HF get_rope_index (images only) over the first `prompt_cols` columns; later columns continue as text
        (what generate does with rope_deltas; a sampled image token in a completion is then plain text)."""
        c = self.cfg
        B, T = input_ids.shape
        M = self.M
        pos = torch.ones(3, B, T, dtype=torch.long)
        deltas = []
        gi = 0
        for i in range(B):
            am = attention_mask[i, :prompt_cols] == 1
            toks = input_ids[i, :prompt_cols][am].tolist()
            llm, st = [], 0
            nimg = sum(1 for j in range(len(toks) - 1) if toks[j] == c["vision_start_token_id"] and toks[j + 1] == c["image_token_id"])
            for _ in range(nimg):
                ed = toks.index(c["image_token_id"], st)
                t, h, w = grids[gi]
                gi += 1
                gt, gh, gw = t, h // M, w // M
                text_len = ed - st
                st_idx = int(llm[-1].max()) + 1 if llm else 0
                llm.append(torch.arange(text_len).view(1, -1).expand(3, -1) + st_idx)
                ti = torch.arange(gt).view(-1, 1).expand(-1, gh * gw).flatten()
                hi = torch.arange(gh).view(1, -1, 1).expand(gt, -1, gw).flatten()
                wi = torch.arange(gw).view(1, 1, -1).expand(gt, gh, -1).flatten()
                llm.append(torch.stack([ti, hi, wi]) + text_len + st_idx)
                st = ed + gt * gh * gw
            if st < len(toks):
                st_idx = int(llm[-1].max()) + 1 if llm else 0
                llm.append(torch.arange(len(toks) - st).view(1, -1).expand(3, -1) + st_idx)
            p = torch.cat(llm, dim=1).reshape(3, -1)
            cols = torch.nonzero(torch.cat([am, torch.zeros(T - prompt_cols, dtype=torch.bool)])).flatten()
            pos[:, i, cols] = p
            nxt = int(p.max()) + 1
            if T > prompt_cols:
                pos[:, i, prompt_cols:] = torch.arange(nxt, nxt + T - prompt_cols)
            deltas.append(nxt - prompt_cols)
        return pos, torch.tensor(deltas)

    def embed(self, input_ids, pixel_values, grids, prompt_cols):
        emb = F.embedding(input_ids, self.w("model.embed_tokens.weight"))
        if pixel_values is not None:
            img = self.visual(pixel_values, grids)
            sel = input_ids == self.cfg["image_token_id"]
            sel[:, prompt_cols:] = False
            emb = emb.masked_scatter(sel.unsqueeze(-1).expand_as(emb), img.to(emb.dtype))
        return emb

    def forward(self, input_ids, attention_mask, pixel_values, grids, prompt_cols=None, keep=None, cache=None):
        """Logits of the last `keep` positions (all when None). With `cache` (a list) the K/V are kept for decoding;
        returns (logits, rope_deltas)."""
        B, T = input_ids.shape
        prompt_cols = T if prompt_cols is None else prompt_cols
        x = self.embed(input_ids, pixel_values, grids, prompt_cols)
        pos, deltas = self.get_rope_index(input_ids, grids, attention_mask, prompt_cols)
        cos, sin = self.cos_sin(pos)
        mn = torch.finfo(torch.float32).min
        causal = torch.triu(torch.full((T, T), mn), diagonal=1)
        mask = causal[None, None].expand(B, 1, T, T).masked_fill(attention_mask[:, None, None, :] == 0, mn)
        for i in range(self.L):
            x = self.layer(i, x, cos, sin, mask, cache)
        if keep is not None:
            x = x[:, -keep:]
        return self.head(x), deltas

    def decode_step(self, token, attention_mask, step_pos, cache):
        """One decoding step: token [B, 1], attention_mask [B, S] (including this token), step_pos [B] positions."""
        x = F.embedding(token, self.w("model.embed_tokens.weight"))
        pos = step_pos.view(1, -1, 1).expand(3, -1, 1)
        cos, sin = self.cos_sin(pos)
        mn = torch.finfo(torch.float32).min
        mask = torch.zeros(attention_mask.shape, dtype=torch.float32).masked_fill(attention_mask == 0, mn)[:, None, None, :]
        for i in range(self.L):
            x = self.layer(i, x, cos, sin, mask, cache)
        return self.head(x)[:, -1]


# ---------------------------------------------------------------------------------------------------------------
# batches
class Work:
    def __init__(self, path):
        with open(path) as f:
            self.spec = json.load(f)
        with open(self.spec["pixels_file"], "rb") as f:
            self.pixels = torch.frombuffer(bytearray(f.read()), dtype=torch.float32)
        self.cols = self.spec["patch_dim"]

    def pix(self, ex):
        a, n = ex["pixel_offset"], ex["pixel_count"]
        return self.pixels[a:a + n].view(-1, self.cols)


def sft_micro_batch(work, examples, pad):
    """A right-padded SFT batch with labels -100 on the prompt and the padding (HF/LLaMA-Factory collator)."""
    seqs = [ex["prompt"] + ex["target"] for ex in examples]
    T = max(len(s) for s in seqs)
    B = len(seqs)
    ids = torch.full((B, T), pad, dtype=torch.long)
    am = torch.zeros(B, T, dtype=torch.long)
    labels = torch.full((B, T), -100, dtype=torch.long)
    for b, (ex, s) in enumerate(zip(examples, seqs)):
        ids[b, : len(s)] = torch.tensor(s)
        am[b, : len(s)] = 1
        labels[b, len(ex["prompt"]): len(s)] = torch.tensor(ex["target"])
    pv = torch.cat([work.pix(ex) for ex in examples if ex["grids"]]) if any(ex["grids"] for ex in examples) else None
    grids = [g for ex in examples for g in ex["grids"]]
    return ids, am, labels, pv, grids


def run_sft(model, work, a, emit):
    spec = work.spec["sft"]
    pad = spec["pad_token_id"]
    for n, p in model.params.items():
        if n.startswith("visual__"):
            p.requires_grad_(False)  # freeze_vision_tower / freeze_multi_modal_projector
    params = [p for p in model.params.values() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=spec["learning_rate"], betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=spec["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    model.train()
    for k, step in enumerate(spec["steps"]):
        t0 = time.perf_counter()
        accum = len(step)
        tokens = 0
        total = 0.0
        for micro in step:
            ids, am, labels, pv, grids = sft_micro_batch(work, [work.spec["examples"][i] for i in micro], pad)
            logits, _ = model(ids, am, pv, grids)
            shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1])
            shift_labels = labels[:, 1:].reshape(-1)
            loss = F.cross_entropy(shift_logits, shift_labels, ignore_index=-100) / accum
            loss.backward()
            total += float(loss)
            tokens += int((shift_labels != -100).sum())
        gn = torch.nn.utils.clip_grad_norm_(params, spec["max_grad_norm"])
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        emit({"step": k + 1, "seconds": dt, "tokens": tokens, "tokens_per_second": tokens / dt, "loss": total,
              "grad_norm": float(gn)})


FORMAT = re.compile(r"^<think>.*?</think>\s*<answer>.*?</answer>$", re.DOTALL)
ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def format_reward(texts):
    return [1.0 if FORMAT.match(t.strip()) else 0.0 for t in texts]


def accuracy_reward(texts, solutions):
    out = []
    for t, s in zip(texts, solutions):
        m = ANSWER.search(t)
        got = m.group(1).strip() if m else t.strip()
        try:
            out.append(1.0 if abs(float(got) - float(s)) < 1e-6 else 0.0)
        except ValueError:
            out.append(1.0 if got == s else 0.0)
    return out


def sample_next(logits, temperature, top_k, top_p):
    """transformers' TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, then multinomial."""
    scores = logits / temperature if temperature > 0 else logits
    if top_k and top_k > 0:
        kth = torch.topk(scores, min(top_k, scores.shape[-1]))[0][..., -1, None]
        scores = scores.masked_fill(scores < kth, -float("inf"))
    if top_p < 1.0:
        sorted_logits, sorted_idx = torch.sort(scores, descending=False)
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove = cum <= (1 - top_p)
        remove[..., -1:] = 0
        scores = scores.masked_fill(remove.scatter(1, sorted_idx, remove), -float("inf"))
    return torch.multinomial(F.softmax(scores, dim=-1), num_samples=1).squeeze(1)


def per_token_logps(model, ids, am, pv, grids, P, L, temperature):
    logits, _ = model(ids, am, pv, grids, prompt_cols=P, keep=L + 1)
    logits = logits[:, :-1] / temperature
    return torch.gather(logits.log_softmax(-1), 2, ids[:, -L:].unsqueeze(-1)).squeeze(-1)


def run_grpo(policy, ref, work, a, emit, decode_table):
    spec = work.spec["grpo"]
    G, L, pad = spec["num_generations"], spec["max_completion_length"], spec["pad_token_id"]
    beta, temp = spec["beta"], spec["temperature"]
    mb = spec["per_device_train_batch_size"]
    accum = spec["gradient_accumulation_steps"]
    params = [p for p in policy.params.values() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=spec["learning_rate"], weight_decay=spec["weight_decay"])
    policy.train()
    prompts = [work.spec["examples"][i] for i in spec["prompts"]]
    per_mb = mb // G
    for k in range(spec["steps"]):
        t0 = time.perf_counter()
        split = {"generate": 0.0, "reward": 0.0, "logprob": 0.0, "update": 0.0}
        new_tokens = 0
        for m in range(accum):
            group = prompts[m * per_mb:(m + 1) * per_mb]
            rows = [ex for ex in group for _ in range(G)]  # TRL: each prompt G times, no prefix sharing
            tg = time.perf_counter()
            P = max(len(ex["prompt"]) for ex in rows)
            B = len(rows)
            ids = torch.full((B, P), pad, dtype=torch.long)
            am = torch.zeros(B, P, dtype=torch.long)
            for b, ex in enumerate(rows):  # left padding (processor padding_side="left")
                ids[b, P - len(ex["prompt"]):] = torch.tensor(ex["prompt"])
                am[b, P - len(ex["prompt"]):] = 1
            pv = torch.cat([work.pix(ex) for ex in rows])
            grids = [g for ex in rows for g in ex["grids"]]
            with torch.no_grad():
                cache = []
                logits, deltas = policy(ids, am, pv, grids, keep=1, cache=cache)
                logits = logits[:, -1]
                out = []
                mask = am
                for i in range(L):
                    tok = sample_next(logits, temp, spec["top_k"], spec["top_p"])
                    out.append(tok)
                    if i == L - 1:
                        break
                    mask = torch.cat([mask, torch.ones(B, 1, dtype=torch.long)], dim=1)
                    logits = policy.decode_step(tok[:, None], mask, deltas + P + i, cache)
                comp = torch.stack(out, dim=1)
            del cache
            split["generate"] += time.perf_counter() - tg
            new_tokens += comp.numel()
            tr = time.perf_counter()
            texts = [b"".join(decode_table.get(int(t), b"") for t in row).decode("utf8", "replace") for row in comp.tolist()]
            sol = [ex["solution"] for ex in rows]
            rewards = torch.tensor(format_reward(texts)) + torch.tensor(accuracy_reward(texts, sol))
            grp = rewards.view(-1, G)
            adv = ((grp - grp.mean(1, keepdim=True)) / (grp.std(1, keepdim=True) + 1e-4)).view(-1)
            split["reward"] += time.perf_counter() - tr
            full_ids = torch.cat([ids, comp], dim=1)
            full_am = torch.cat([am, torch.ones_like(comp)], dim=1)
            tl = time.perf_counter()
            with torch.no_grad():
                ref_lp = per_token_logps(ref, full_ids, full_am, pv, grids, P, L, temp) if beta > 0 else None
            split["logprob"] += time.perf_counter() - tl
            tu = time.perf_counter()
            lp = per_token_logps(policy, full_ids, full_am, pv, grids, P, L, temp)
            per_tok = torch.exp(lp - lp.detach()) * adv[:, None]
            if ref_lp is not None:
                kl = torch.exp(ref_lp - lp) - (ref_lp - lp) - 1
                per_tok = per_tok - beta * kl
            loss = -(per_tok.sum(1) / L).mean() / accum  # completion mask: all ones (fixed length)
            loss.backward()
            split["update"] += time.perf_counter() - tu
        tu = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, spec["max_grad_norm"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        split["update"] += time.perf_counter() - tu
        dt = time.perf_counter() - t0
        emit({"step": k + 1, "seconds": dt, "new_tokens": new_tokens, **{f"time/{n}": v for n, v in split.items()}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["sft", "grpo"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with open(os.path.join(a.model, "config.json")) as f:
        cfg = json.load(f)
    weights = read_safetensors(os.path.join(a.model, "model.safetensors"))
    work = Work(a.work)
    emit = lambda rec: print(json.dumps(rec), flush=True)
    if a.mode == "sft":
        run_sft(Qwen2VL(cfg, weights), work, a, emit)
    else:
        with open(os.path.join(a.model, "tokenizer.json")) as f:
            table = byte_decoder(json.load(f))
        policy = Qwen2VL(cfg, {k: v.clone() for k, v in weights.items()})
        ref = Qwen2VL(cfg, weights).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        run_grpo(policy, ref, work, a, emit, table)
    print(json.dumps({"summary": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
