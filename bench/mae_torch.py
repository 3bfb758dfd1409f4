"""magma-lab's MAE + MAGMA training step in PyTorch, for `npm run bench -- --vs-pytorch`.

The same model as src/nn/mae.ts (SPEC section 1) and the same M-MAE step as src/train/methods.ts
(SPEC section 2): ViT encoder on the visible patches, decoder with mask tokens, norm-pix MSE on the
removed patches, plus MAGMA between the mean patch tokens of a reference block and the target
block, AdamW. The modules and their state-dict names are facebookresearch/mae's models_mae.py
(a Conv2d patch embedding `patch_embed.proj`, fixed `pos_embed` / `decoder_pos_embed` parameters
[1, 1+L, width] with a zero CLS row, `blocks.i.attn.qkv`, ...), so weights move between the two
frameworks as safetensors files in that naming (magma-lab's `model.saveWeights` / `loadPretrained`).
Debian has no safetensors package: the format (8-byte header length, JSON header, raw
little-endian data) is read and written here directly.

Run by bench/torch.ts as a server: argv[1] is the settings as JSON (the magma-lab model config,
threads, MAGMA's blocks and lambda); then one JSON command per line on stdin, one JSON answer per
line on stdout:
  {"cmd": "info"}                                   torch version, threads, the BLAS library loaded
  {"cmd": "check", "dir": d}                        loss parts for d/weights.safetensors and d/inputs.safetensors
  {"cmd": "forward", "dir": d}                      the same inputs' latent, prediction and loss, to d/outputs.safetensors
  {"cmd": "parity", "dir": d, "batch": 4, "seed": 0}  a random model and what it computes, written to d
  {"cmd": "time", "batch": 64, "steps": 4, "warmup": 1}  wall time of each training step, ms
  {"cmd": "matmuls", "shapes": [[m, k, n], ...], "repeats": 5}  best total time of these products, ms
"""
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def sin_cos_embedding(dim, grid):
    """Fixed 2-D sin-cos positional embedding [grid*grid, dim]: columns in the first half, rows in the second."""
    out = np.zeros((grid * grid, dim), np.float32)
    half, quarter = dim // 2, dim // 4
    omega = 1.0 / 10000 ** (np.arange(quarter) / quarter)
    for i in range(grid):
        for j in range(grid):
            p = i * grid + j
            out[p, :quarter], out[p, quarter:half] = np.sin(j * omega), np.cos(j * omega)
            out[p, half:half + quarter], out[p, half + quarter:] = np.sin(i * omega), np.cos(i * omega)
    return torch.from_numpy(out)


class Attention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x):  # [B, N, D]
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # 3 × [B, H, N, hd]
        probs = ((q * (d // self.heads) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)  # [B, H, N, N]
        return self.proj((probs @ v).transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, width, ratio):
        super().__init__()
        self.fc1 = nn.Linear(width, ratio * width)
        self.fc2 = nn.Linear(ratio * width, width)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU


class Block(nn.Module):
    """Pre-norm Transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, width, heads, ratio, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=eps)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=eps)
        self.mlp = Mlp(width, ratio)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """timm's PatchEmbed: a p x p convolution with stride p, [B, C, H, W] -> [B, L, D]."""

    def __init__(self, channels, width, patch):
        super().__init__()
        self.proj = nn.Conv2d(channels, width, patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


def fixed_positions(width, grid):
    """models_mae.py's frozen pos_embed: [1, 1+L, width], zero row for the CLS token."""
    pos = torch.zeros(1, 1 + grid * grid, width)
    pos[0, 1:] = sin_cos_embedding(width, grid)
    return nn.Parameter(pos, requires_grad=False)


class Mae(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.grid = c['imageSize'] // c['patchSize']
        self.tokens = self.grid ** 2
        patch_dim = c['patchSize'] ** 2 * c['channels']
        d, e = c['encoderWidth'], c['decoderWidth']
        self.patch_embed = PatchEmbed(c['channels'], d, c['patchSize'])
        self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pos_embed = fixed_positions(d, self.grid)
        self.blocks = nn.ModuleList([Block(d, c['encoderHeads'], c['mlpRatio'], c['encoderNormEps']) for _ in range(c['encoderDepth'])])
        self.norm = nn.LayerNorm(d, eps=c['encoderNormEps'])
        self.decoder_embed = nn.Linear(d, e)
        self.mask_token = nn.Parameter(torch.randn(1, 1, e) * 0.02)
        self.decoder_pos_embed = fixed_positions(e, self.grid)
        self.decoder_blocks = nn.ModuleList([Block(e, c['decoderHeads'], c['mlpRatio'], c['decoderNormEps']) for _ in range(c['decoderDepth'])])
        self.decoder_norm = nn.LayerNorm(e, eps=c['decoderNormEps'])
        self.decoder_pred = nn.Linear(e, patch_dim)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.patch_embed.proj.weight.data  # as models_mae.py: xavier on the [D, C*p*p] view
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.proj.bias)

    def patchify(self, images):  # [B, H, W, C] -> [B, L, p*p*C], pixel order (row, column, channel)
        b, p, g = images.shape[0], self.c['patchSize'], self.grid
        return images.reshape(b, g, p, g, p, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, self.tokens, -1)

    def random_masking(self, b):
        """Per image: uniform noise, argsort, keep the first floor(L (1 - r)) tokens."""
        keep = int(self.tokens * (1 - self.c['maskRatio']))
        ids_shuffle = torch.rand(b, self.tokens).argsort(1)
        ids_restore = ids_shuffle.argsort(1)
        mask = torch.ones(b, self.tokens)
        mask[:, :keep] = 0
        return ids_shuffle[:, :keep], ids_restore, torch.gather(mask, 1, ids_restore)

    def forward_encoder(self, images, ids_keep):
        x = self.patch_embed(images.permute(0, 3, 1, 2)) + self.pos_embed[:, 1:]  # [B, L, D]
        x = torch.gather(x, 1, ids_keep[..., None].expand(-1, -1, x.shape[2]))  # [B, K, D]
        cls = self.cls_token + self.pos_embed[:, :1]
        x = torch.cat([cls.expand(x.shape[0], -1, -1), x], 1)  # [B, 1+K, D]
        outputs = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return self.norm(x), outputs

    def forward_decoder(self, latent, ids_restore):
        x = self.decoder_embed(latent)  # [B, 1+K, E]
        b, k = x.shape[0], x.shape[1] - 1
        filled = torch.cat([x[:, 1:], self.mask_token.expand(b, self.tokens - k, -1)], 1)  # [B, L, E] shuffled
        restored = torch.gather(filled, 1, ids_restore[..., None].expand(-1, -1, x.shape[2]))  # grid order
        x = torch.cat([x[:, :1], restored], 1) + self.decoder_pos_embed  # [B, 1+L, E]
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]  # [B, L, P], CLS dropped

    def forward_loss(self, patches, pred, mask):
        target = patches
        if self.c['normPixLoss']:
            target = (patches - patches.mean(-1, keepdim=True)) / (patches.var(-1, keepdim=True) + 1e-6).sqrt()  # unbiased var
        per_patch = ((pred - target) ** 2).mean(-1)  # [B, L]
        return (per_patch * mask).sum() / mask.sum()


def magma(x, y):
    """SPEC section 2: trace(Y^T L Y) / B^2 on the RBF graph of X; nothing detached."""
    b = x.shape[0]
    s = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)  # [B, B], exact zeros on the diagonal
    gamma = s[s != 0].std()  # unbiased, over the non-zero entries
    w = torch.exp(-s / gamma) * (1 - torch.eye(b))
    q = (w.sum(1) + 1e-4).rsqrt()
    smoothed = (q[:, None] * w * q[None, :]) @ y  # D^-1/2 W D^-1/2 Y
    return (y * (y - smoothed)).sum() / (b * b)


def step_loss(model, cfg, images, ids_keep, ids_restore, mask):
    """The M-MAE loss: reconstruction + lambda * MAGMA(reference block, target block). Returns (total, parts)."""
    latent, blocks = model.forward_encoder(images, ids_keep)
    reconstruction = model.forward_loss(model.patchify(images), model.forward_decoder(latent, ids_restore), mask)
    target = blocks[cfg['targetBlock']][:, 1:].mean(1)  # mean of the patch tokens, [B, D]
    references = cfg['referenceBlocks']
    reg = sum(magma(blocks[r][:, 1:].mean(1), target) for r in references) / len(references)
    return reconstruction + cfg['lambda'] * reg, {'reconstruction': reconstruction.item(), 'magma': reg.item()}


def adamw(model, lr):
    """AdamW (0.9, 0.95), weight decay 0.05 on linear weights only (not biases, norms, tokens)."""
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]  # not the fixed pos_embed
    decay = [p for n, p in trained if n.endswith('.weight') and p.ndim in (2, 4)]  # linear and patch-embedding weights
    other = [p for n, p in trained if not (n.endswith('.weight') and p.ndim in (2, 4))]
    return torch.optim.AdamW([{'params': decay, 'weight_decay': 0.05}, {'params': other, 'weight_decay': 0.0}], lr=lr, betas=(0.9, 0.95))


def blas_library():
    """The BLAS shared library this process has loaded (after one matmul), from /proc/self/maps."""
    torch.randn(64, 64) @ torch.randn(64, 64)
    with open('/proc/self/maps') as f:
        libs = {line.split()[-1] for line in f if 'blas' in line.lower() and '/' in line}
    return sorted(libs)


def read_safetensors(file):
    """{name: float32 tensor} of a safetensors file (F32 only, as magma-lab writes)."""
    with open(file, 'rb') as f:
        data = f.read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, entry in header.items():
        if name == '__metadata__':
            continue
        if entry['dtype'] != 'F32':
            raise ValueError(f"{file}: tensor {name} is {entry['dtype']}, this reader takes F32")
        begin, end = entry['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(data, np.float32, (end - begin) // 4, 8 + n + begin).copy().reshape(entry['shape']))
    return out


def write_safetensors(file, tensors):
    """Writes {name: tensor} as float32 safetensors: 8-byte little-endian header length, JSON header, raw data."""
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().to(torch.float32).contiguous().numpy().astype('<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b' ' * (-len(text) % 8)
    with open(file, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(chunks))


def load_check(model, directory):
    """magma-lab's weights (models_mae.py names), images and masks, written by bench/torch.ts."""
    weights = read_safetensors(os.path.join(directory, 'weights.safetensors'))
    state = model.state_dict()
    missing, extra = set(state) - set(weights), set(weights) - set(state)
    if missing or extra:
        raise KeyError(f'weights do not match the PyTorch model: missing {sorted(missing)}, unexpected {sorted(extra)}')
    for name, value in weights.items():
        state[name].copy_(value)
    inputs = read_safetensors(os.path.join(directory, 'inputs.safetensors'))
    return inputs['images'], inputs['ids_keep'].long(), inputs['ids_restore'].long(), inputs['mask']


def write_parity(cfg, directory, batch, seed):
    """
    A random model in models_mae.py naming (every weight, bias and LayerNorm perturbed, so no part
    is an identity), random images and masks, and what the model computes from them: the encoder's
    latent, every block's output, the decoder's prediction and the loss.
    """
    torch.manual_seed(seed)
    model = Mae(cfg['model'])
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * (0.1 if name.endswith('bias') or 'norm' in name else 0.02))
    c = model.c
    images = torch.randn(batch, c['imageSize'], c['imageSize'], c['channels'])
    ids_keep, ids_restore, mask = model.random_masking(batch)
    with torch.no_grad():
        latent, blocks = model.forward_encoder(images, ids_keep)
        pred = model.forward_decoder(latent, ids_restore)
        loss = model.forward_loss(model.patchify(images), pred, mask)
    write_safetensors(os.path.join(directory, 'weights.safetensors'), model.state_dict())
    expected = {'images': images, 'ids_keep': ids_keep.float(), 'ids_restore': ids_restore.float(), 'mask': mask,
                'latent': latent, 'pred': pred, 'loss': loss.reshape(1)}
    expected.update({f'blocks.{i}': b for i, b in enumerate(blocks)})
    write_safetensors(os.path.join(directory, 'expected.safetensors'), expected)


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(cfg['threads'])
    torch.manual_seed(0)
    model = Mae(cfg['model'])
    optimizer = adamw(model, 1.5e-4)
    for line in sys.stdin:
        command = json.loads(line)
        if command['cmd'] == 'info':
            answer = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': blas_library(),
                      'parameters': sum(p.numel() for p in model.parameters() if p.requires_grad)}
        elif command['cmd'] == 'check':
            images, ids_keep, ids_restore, mask = load_check(model, command['dir'])
            total, parts = step_loss(model, cfg, images, ids_keep, ids_restore, mask)
            total.backward()
            grad_norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in model.parameters() if p.grad is not None))
            model.zero_grad(set_to_none=True)
            answer = {'loss': total.item(), 'parts': parts, 'gradNorm': grad_norm}
        elif command['cmd'] == 'forward':
            images, ids_keep, ids_restore, mask = load_check(model, command['dir'])
            with torch.no_grad():
                latent, _ = model.forward_encoder(images, ids_keep)
                pred = model.forward_decoder(latent, ids_restore)
                loss = model.forward_loss(model.patchify(images), pred, mask)
            write_safetensors(os.path.join(command['dir'], 'outputs.safetensors'), {'latent': latent, 'pred': pred, 'loss': loss.reshape(1)})
            answer = {'written': ['outputs.safetensors']}
        elif command['cmd'] == 'parity':
            write_parity(cfg, command['dir'], command['batch'], command['seed'])
            answer = {'written': ['weights.safetensors', 'expected.safetensors']}
        elif command['cmd'] == 'time':
            c = model.c
            images = torch.randn(command['batch'], c['imageSize'], c['imageSize'], c['channels'])
            times = []
            for i in range(command['warmup'] + command['steps']):
                start = time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                total, _ = step_loss(model, cfg, images, *model.random_masking(command['batch']))
                total.backward()
                optimizer.step()
                if i >= command['warmup']:
                    times.append((time.perf_counter() - start) * 1000)
            answer = {'ms': times}
        elif command['cmd'] == 'matmuls':
            pairs = [(torch.randn(m, k), torch.randn(k, n)) for m, k, n in command['shapes']]
            totals = []
            for _ in range(command['repeats']):
                start = time.perf_counter()
                for a, b in pairs:
                    a @ b
                totals.append((time.perf_counter() - start) * 1000)
            answer = {'ms': min(totals)}
        else:
            answer = {'error': f"unknown command {command['cmd']}"}
        print(json.dumps(answer), flush=True)


if __name__ == '__main__':
    main()
