"""A plain GPT in Python PyTorch: the yardstick that bench/train-vs-reference and
bench/decode-vs-reference hold lmlab against.

It is written the way a researcher writes one (pre-LayerNorm, GELU, learned positions, a tied
head, AdamW), with nothing slowed on purpose and nothing that lmlab's kernels could not also
call: on PyTorch 2.x attention goes through scaled_dot_product_attention, on 1.13 through the
usual matmul, mask, softmax, matmul chain with the causal mask built once.

    python3 bench/reference/gpt.py train --layers 4 --heads 4 --width 256 --block 256 --batch 8 \
        --corpus data/brown/train.txt
    python3 bench/reference/gpt.py decode --layers 4 --heads 4 --width 256 --block 256 --batch 16

Each prints one JSON line: the configuration, the parameter count, the BLAS kernels the process
runs on, and the measured tokens per second.

The vocabulary defaults to lmlab's byte tokenizer's, 360 ids (256 bytes, then pad, bos, eos,
mask and 100 sentinels), so that the two models have the same embedding and head; the corpus
still holds only bytes. OpenBLAS picks its kernels when it loads; set OPENBLAS_CORETYPE to run
the kernels lmlab chose (bench/train-vs-reference does).
"""

import argparse
import contextlib
import ctypes
import json
import math
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


class SelfAttention(nn.Module):
    def __init__(self, width, heads, block, bias):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width, bias=bias)
        self.proj = nn.Linear(width, width, bias=bias)
        self.register_buffer("future", torch.ones(block, block, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, x, cache=None):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)                           # 3 x (B, T, C)
        q = q.view(B, T, self.heads, C // self.heads).transpose(1, 2)   # (B, H, T, D)
        k = k.view(B, T, self.heads, C // self.heads).transpose(1, 2)   # (B, H, T, D)
        v = v.view(B, T, self.heads, C // self.heads).transpose(1, 2)   # (B, H, T, D)
        past = 0
        if cache is not None:
            if "k" in cache:
                past = cache["k"].size(2)
                k = torch.cat([cache["k"], k], dim=2)                   # (B, H, S, D)
                v = torch.cat([cache["v"], v], dim=2)                   # (B, H, S, D)
            cache["k"], cache["v"] = k, v
        S = k.size(2)
        if HAS_SDPA:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=past == 0 and T > 1)  # (B, H, T, D)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, H, T, S)
            if T > 1:
                att = att.masked_fill(self.future[past:past + T, :S], float("-inf"))
            y = F.softmax(att, dim=-1) @ v                              # (B, H, T, D)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))            # (B, T, C)


class Block(nn.Module):
    def __init__(self, width, heads, block, bias):
        super().__init__()
        self.ln1 = nn.LayerNorm(width, elementwise_affine=True)
        self.attn = SelfAttention(width, heads, block, bias)
        self.ln2 = nn.LayerNorm(width, elementwise_affine=True)
        self.fc = nn.Linear(width, 4 * width, bias=bias)
        self.out = nn.Linear(4 * width, width, bias=bias)
        if not bias:  # LayerNorm without its bias, as lmlab's bias = false
            self.ln1.bias = None
            self.ln2.bias = None

    def forward(self, x, cache=None):
        x = x + self.attn(self.ln1(x), cache)                           # (B, T, C)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))               # (B, T, C)


class GPT(nn.Module):
    def __init__(self, vocab, block, layers, heads, width, bias=False):
        super().__init__()
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(block, width)
        self.blocks = nn.ModuleList(Block(width, heads, block, bias) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        if not bias:
            self.ln_f.bias = None
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
            if name.endswith("proj.weight") or name.endswith("out.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers))

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, 0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def forward(self, idx, caches=None, start=0):
        T = idx.size(1)
        pos = torch.arange(start, start + T, device=idx.device)         # (T)
        x = self.tokens(idx) + self.positions(pos)                      # (B, T, C)
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])        # (B, T, C)
        return F.linear(self.ln_f(x), self.tokens.weight)              # (B, T, V): the tied head


def optimizer(model, lr, weight_decay):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    plain = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": plain, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))


def autocast(device, precision):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def batches(args, device):
    """Random windows of the corpus' bytes (or random tokens when there is none)."""
    generator = torch.Generator().manual_seed(args.seed)
    if args.corpus:
        data = torch.frombuffer(bytearray(open(args.corpus, "rb").read()), dtype=torch.uint8).long()
    else:
        data = torch.randint(args.vocab, (1 << 20,), generator=generator)
    while True:
        starts = torch.randint(len(data) - args.block - 1, (args.batch,), generator=generator)
        chunk = torch.stack([data[s:s + args.block + 1] for s in starts.tolist()])  # (B, T+1)
        yield chunk.to(device)


def train(args, model, device):
    if args.compile:
        if not hasattr(torch, "compile"):
            raise SystemExit(f"--compile needs PyTorch 2.x; this is {torch.__version__}")
        model = torch.compile(model)
    opt = optimizer(model, args.lr, 0.1)
    data = batches(args, device)
    rates, losses = [], []
    window_start, window_tokens = time.perf_counter(), 0
    for step in range(1, args.steps + 1):
        chunk = next(data)
        x, y = chunk[:, :-1], chunk[:, 1:]                              # (B, T) each
        with autocast(device, args.precision):
            logits = model(x)                                           # (B, T, V)
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        window_tokens += y.numel()
        if step % args.log_every == 0:
            losses.append(loss.item())  # the one host sync, on logging steps
            now = time.perf_counter()
            rates.append(window_tokens / (now - window_start))
            window_start, window_tokens = now, 0
    return {"tokens_per_s": statistics.median(rates[1:] if len(rates) > 1 else rates),
            "windows": rates, "loss": losses[-1] if losses else None}


def read_prompts(path):
    """The UTF-8 bytes of each non-empty line of `path`: one (B, P) batch, so every line must
    have the same length (lmlab would left-pad shorter ones; this loop does not)."""
    with open(path, "rb") as f:
        rows = [list(line.rstrip(b"\r\n")) for line in f if line.rstrip(b"\r\n")]
    if not rows or len({len(r) for r in rows}) != 1:
        raise SystemExit(f"{path}: need prompts of one length in bytes, one a line; got lengths "
                         f"{sorted({len(r) for r in rows})}")
    return torch.tensor(rows, dtype=torch.long)                         # (B, P)


@torch.inference_mode()
def generate(model, prompts, new_tokens):
    """Greedy decoding with the key/value cache: one forward over the prompts, then one token a
    step. Returns the (B, new_tokens) ids."""
    caches = [dict() for _ in model.blocks]
    logits = model(prompts, caches)                                     # (B, P, V)
    tokens = [logits[:, -1].argmax(-1, keepdim=True)]                   # [(B, 1)]
    for i in range(new_tokens - 1):
        logits = model(tokens[-1], caches, start=prompts.size(1) + i)   # (B, 1, V)
        tokens.append(logits[:, -1].argmax(-1, keepdim=True))           # [(B, 1)]
    return torch.cat(tokens, dim=1)                                     # (B, N)


def decode(args, model, device):
    """Times `rounds` generations in this process, prefill included: the first is what one
    `lmlab generate` call measures (a fresh process), the later ones run warm."""
    model.eval()
    if args.prompts:
        prompts = read_prompts(args.prompts)[:args.batch]               # (B, P)
        if prompts.size(0) < args.batch:
            raise SystemExit(f"{args.prompts}: {prompts.size(0)} prompts for --batch {args.batch}")
    else:
        prompts = torch.randint(args.vocab, (args.batch, args.prompt),
                                generator=torch.Generator().manual_seed(args.seed))  # (B, P)
    if prompts.size(1) + args.new_tokens - 1 > args.block:
        raise SystemExit(f"prompt {prompts.size(1)} + {args.new_tokens} new tokens overflow the block {args.block}")
    prompts = prompts.to(device)
    rates = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        with autocast(device, args.precision):
            out = generate(model, prompts, args.new_tokens)             # (B, N)
        out = out.cpu()
        rates.append(out.numel() / (time.perf_counter() - start))
    return {"tokens_per_s": rates[0], "first": rates[0],
            "warm": statistics.median(rates[1:]) if len(rates) > 1 else None, "rounds": rates,
            "prompt_tokens": prompts.size(1), "new_tokens": args.new_tokens}


def blas_kernels():
    """OpenBLAS's version and kernels in this process, as lmlab prints them ("OpenBLAS 0.3.21,
    Cooperlake kernels"); "" when the process runs another BLAS."""
    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps if "openblas" in line and ".so" in line})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
        except (OSError, AttributeError):
            continue
        version = " ".join(lib.openblas_get_config().decode().split()[:2])
        return f"{version}, {lib.openblas_get_corename().decode()} kernels"
    return ""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["train", "decode"])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--block", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--vocab", type=int, default=360, help="vocabulary size; 360: lmlab's byte tokenizer's")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads; 0: every CPU")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--corpus", default="", help="a byte file to draw windows from; random tokens if empty")
    p.add_argument("--prompts", default="", help="decode: a file of prompts of one length, one a line (their bytes)")
    p.add_argument("--prompt", type=int, default=48, help="decode: random prompt tokens when there is no --prompts")
    p.add_argument("--new-tokens", type=int, default=200, help="decode: tokens generated per row")
    p.add_argument("--rounds", type=int, default=3, help="decode: timed generations in this process")
    p.add_argument("--compile", action="store_true", help="train: torch.compile the model (PyTorch 2.x)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()

    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    model = GPT(args.vocab, args.block, args.layers, args.heads, args.width).to(device)
    result = train(args, model, device) if args.mode == "train" else decode(args, model, device)
    result.update(mode=args.mode, layers=args.layers, heads=args.heads, width=args.width, block=args.block,
                  batch=args.batch, vocab=args.vocab, precision=args.precision, device=str(device),
                  threads=torch.get_num_threads(), torch=torch.__version__,
                  parameters=sum(p.numel() for p in model.parameters()), blas=blas_kernels(),
                  openblas_coretype=os.environ.get("OPENBLAS_CORETYPE", ""))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
