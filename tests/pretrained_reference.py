#!/usr/bin/python3
"""Small random checkpoints in the Hugging Face layout, and their reference logits.

    pretrained_reference.py gpt2|llama|bert|t5 FOLDER [--seed N] [--gpt2-124m GPT2_FILES] [--tokenizer-json]
        [--pretraining] [--gated] [--t5-small CORPUS]

writes FOLDER/config.json, FOLDER/model.safetensors and the tokenizer files the family reads
(GPT-2: vocab.json and merges.txt of a tiny byte-level BPE; LLaMA: a tiny SentencePiece
tokenizer.model; BERT: the GPT-2 files, since lmlab has no WordPiece; T5: a tiny spiece.model with
T5's special ids), then FOLDER/reference.json:
a prompt of ids, the logits of every position, and (decoders) a greedy continuation. The names and
layouts are those of Hugging Face's GPT2LMHeadModel, LlamaForCausalLM, BertForMaskedLM and
T5ForConditionalGeneration; the
forward passes are written here from the published model definitions (float64, no caching),
independently of lmlab, so that lmlab's import is checked against them.
Needs Debian's python3-torch (and python3-sentencepiece for llama and t5); no transformers package.
"""
import argparse
import json
import math
import os
import shutil
import struct

import torch

PROMPT_LENGTH = 7
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
CONTINUATION = 12


# --- safetensors, written by hand: 8-byte little-endian header length, JSON header, raw data.

SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def write_safetensors(path, tensors, metadata=None):
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


# --- a tiny byte-level BPE in GPT-2's file formats.

def byte_symbols():
    """GPT-2's printable stand-in for each byte: printable Latin-1 bytes stand for themselves,
    the others take code points from 256 up, in byte order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    symbols, extra = {}, 0
    for b in range(256):
        if b in printable:
            symbols[b] = chr(b)
        else:
            symbols[b] = chr(256 + extra)
            extra += 1
    return symbols


def write_tiny_bpe(folder, as_tokenizer_json=False):
    """vocab.json and merges.txt, or (as_tokenizer_json) the same model as one tokenizer.json in
    the tokenizers library's layout for GPT-2: a byte-level pre-tokenizer, merges as "left right"."""
    symbols = byte_symbols()
    vocab = {symbols[b]: b for b in range(256)}
    space = symbols[ord(" ")]
    merges = [("t", "h"), ("th", "e"), (space, "th"), (space, "the"), ("a", "n"), ("an", "d"), (space, "and")]
    for left, right in merges:
        vocab[left + right] = len(vocab)
    if as_tokenizer_json == "llama3":
        # LLaMA 3's layout: a Split regex before a ByteLevel step without its own, merges as pairs,
        # ignore_merges (tiktoken's rule), and the specials only among the added tokens.
        split = {"type": "Split", "behavior": "Isolated", "invert": False, "pattern": {"Regex": LLAMA3_REGEX}}
        byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
        specials = ["<|begin_of_text|>", "<|end_of_text|>"]
        added = [{"id": len(vocab) + i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True} for i, t in enumerate(specials)]
        doc = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
               "pre_tokenizer": {"type": "Sequence", "pretokenizers": [split, byte_level]},
               "post_processor": None, "decoder": {"type": "ByteLevel"},
               "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                         "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                         "ignore_merges": True, "vocab": vocab, "merges": [[left, right] for left, right in merges]}}
        with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False)
        return len(vocab) + len(specials)
    vocab["<|endoftext|>"] = len(vocab)
    if as_tokenizer_json:
        byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
        doc = {"version": "1.0", "truncation": None, "padding": None,
               "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "single_word": False,
                                 "lstrip": False, "rstrip": False, "normalized": True, "special": True}],
               "normalizer": None, "pre_tokenizer": byte_level, "post_processor": byte_level, "decoder": byte_level,
               "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                         "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                         "merges": [f"{left} {right}" for left, right in merges]}}
        with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False)
        return len(vocab)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for left, right in merges:
            f.write(f"{left} {right}\n")
    return len(vocab)


def write_tiny_sentencepiece(folder):
    import sentencepiece as spm
    text = os.path.join(folder, "corpus.txt")
    with open(text, "w") as f:
        for i in range(200):
            f.write(f"the quick brown fox {i} jumps over the lazy dog and the cat sat on mat number {i * 7}\n")
    spm.SentencePieceTrainer.train(input=text, model_prefix=os.path.join(folder, "tokenizer"), vocab_size=300,
                                   model_type="bpe", unk_id=0, bos_id=1, eos_id=2, pad_id=-1, byte_fallback=True,
                                   minloglevel=2)
    os.remove(text)
    os.remove(os.path.join(folder, "tokenizer.vocab"))
    return spm.SentencePieceProcessor(model_file=os.path.join(folder, "tokenizer.model")).get_piece_size()


# --- GPT-2 as GPT2LMHeadModel stores it and computes it.

def gpt2_weights(cfg, g, spread=1.0):
    C, V, P, L = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"], cfg["n_layer"]

    def rand(*shape, scale=0.3, mean=0.0):
        return (torch.randn(*shape, generator=g) * scale * spread + mean).float()

    w = {"transformer.wte.weight": rand(V, C), "transformer.wpe.weight": rand(P, C, scale=0.1)}
    for i in range(L):
        p = f"transformer.h.{i}."
        w[p + "ln_1.weight"], w[p + "ln_1.bias"] = rand(C, scale=0.1, mean=1.0), rand(C, scale=0.1)
        # Conv1D stores (in, out): c_attn maps C to the concatenated q, k, v.
        w[p + "attn.c_attn.weight"], w[p + "attn.c_attn.bias"] = rand(C, 3 * C), rand(3 * C, scale=0.1)
        w[p + "attn.c_proj.weight"], w[p + "attn.c_proj.bias"] = rand(C, C), rand(C, scale=0.1)
        w[p + "ln_2.weight"], w[p + "ln_2.bias"] = rand(C, scale=0.1, mean=1.0), rand(C, scale=0.1)
        w[p + "mlp.c_fc.weight"], w[p + "mlp.c_fc.bias"] = rand(C, 4 * C), rand(4 * C, scale=0.1)
        w[p + "mlp.c_proj.weight"], w[p + "mlp.c_proj.bias"] = rand(4 * C, C, scale=0.15), rand(C, scale=0.1)
    w["transformer.ln_f.weight"], w["transformer.ln_f.bias"] = rand(C, scale=0.1, mean=1.0), rand(C, scale=0.1)
    return w


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdim=True)
    var = (x - mean).pow(2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def causal_attention(q, k, v):
    """q (H, T, D), k and v (H, T, D): softmax(q k^T / sqrt(D)) v over positions <= each query's."""
    T, D = q.shape[1], q.shape[2]
    scores = q @ k.transpose(1, 2) / math.sqrt(D)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    return torch.softmax(scores, -1) @ v


def gpt2_logits(w, cfg, ids):
    w = {k: v.double() for k, v in w.items()}
    C, H, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    T, D = len(ids), C // H
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][:T]
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}."
        h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = (part.reshape(T, H, D).transpose(0, 1) for part in qkv.split(C, -1))
        y = causal_attention(q, k, v).transpose(0, 1).reshape(T, C)
        x = x + y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        h = gelu_tanh(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = layer_norm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    return x @ w["transformer.wte.weight"].T  # tied head


def gpt2_checkpoint(folder, g, gpt2_files=None, tokenizer_json=False):
    """The small test model, or with `gpt2_files` (a folder with GPT-2's encoder.json and vocab.bpe)
    one of GPT-2 small's size (124M parameters) with GPT-2's own tokenizer, for measuring."""
    if gpt2_files:
        shutil.copyfile(os.path.join(gpt2_files, "encoder.json"), os.path.join(folder, "vocab.json"))
        shutil.copyfile(os.path.join(gpt2_files, "vocab.bpe"), os.path.join(folder, "merges.txt"))
        cfg = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "bos_token_id": 50256,
               "eos_token_id": 50256, "layer_norm_epsilon": 1e-5, "model_type": "gpt2", "n_ctx": 1024,
               "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024, "vocab_size": 50257}
        return cfg, gpt2_weights(cfg, g, spread=0.1), gpt2_logits
    vocab = write_tiny_bpe(folder, "gpt2" if tokenizer_json else False)
    cfg = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
           "bos_token_id": vocab - 1, "eos_token_id": vocab - 1, "embd_pdrop": 0.1, "initializer_range": 0.02,
           "layer_norm_epsilon": 1e-5, "model_type": "gpt2", "n_ctx": 64, "n_embd": 32, "n_head": 4,
           "n_inner": None, "n_layer": 2, "n_positions": 64, "reorder_and_upcast_attn": False,
           "resid_pdrop": 0.1, "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True,
           "summary_activation": None, "summary_first_dropout": 0.1, "summary_proj_to_labels": True,
           "summary_type": "cls_index", "summary_use_proj": True, "torch_dtype": "float32",
           "transformers_version": "4.40.0", "use_cache": True, "vocab_size": vocab}
    return cfg, gpt2_weights(cfg, g), gpt2_logits


# --- LLaMA as LlamaForCausalLM stores it and computes it.

def llama_weights(cfg, g):
    C, V, L, F = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    D = C // cfg["num_attention_heads"]
    C_kv = cfg["num_key_value_heads"] * D

    def rand(*shape, scale=0.3, mean=0.0):
        return (torch.randn(*shape, generator=g) * scale + mean).float()

    # nn.Linear stores (out, in).
    w = {"model.embed_tokens.weight": rand(V, C)}
    for i in range(L):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = rand(C, scale=0.1, mean=1.0)
        w[p + "self_attn.q_proj.weight"], w[p + "self_attn.k_proj.weight"] = rand(C, C), rand(C_kv, C)
        w[p + "self_attn.v_proj.weight"], w[p + "self_attn.o_proj.weight"] = rand(C_kv, C), rand(C, C)
        w[p + "post_attention_layernorm.weight"] = rand(C, scale=0.1, mean=1.0)
        w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"] = rand(F, C), rand(F, C)
        w[p + "mlp.down_proj.weight"] = rand(C, F, scale=0.15)
    w["model.norm.weight"] = rand(C, scale=0.1, mean=1.0)
    w["lm_head.weight"] = rand(V, C)
    return w


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_half(x):
    """(x1, x2) -> (-x2, x1) over the two halves of the last dimension: the layout Hugging Face's
    LLaMA checkpoints are permuted for (not the interleaved pairs of Meta's original code)."""
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], -1)


def rotary(x, theta):
    """x (H, T, D) rotated by position: channel i and i + D/2 turn by t * theta^(-2i/D)."""
    T, D = x.shape[1], x.shape[2]
    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    angles = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    angles = torch.cat([angles, angles], -1)
    return x * angles.cos() + rotate_half(x) * angles.sin()


def llama_logits(w, cfg, ids):
    w = {k: v.double() for k, v in w.items()}
    C, H, H_kv, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["rms_norm_eps"]
    T, D = len(ids), C // H
    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(T, H, D).transpose(0, 1)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(T, H_kv, D).transpose(0, 1)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(T, H_kv, D).transpose(0, 1)
        q, k = rotary(q, cfg["rope_theta"]), rotary(k, cfg["rope_theta"])
        # Grouped-query: query head j reads key/value head j // (H / H_kv).
        k, v = k.repeat_interleave(H // H_kv, 0), v.repeat_interleave(H // H_kv, 0)
        y = causal_attention(q, k, v).transpose(0, 1).reshape(T, C)
        x = x + y @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate, up = h @ w[p + "mlp.gate_proj.weight"].T, h @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    return x @ w["lm_head.weight"].T


def llama_checkpoint(folder, g, tokenizer_json=False):
    """With tokenizer_json, LLaMA 3's tokenizer.json (a tiny byte-level BPE) instead of LLaMA-1/2's
    SentencePiece tokenizer.model."""
    if tokenizer_json:
        vocab = write_tiny_bpe(folder, "llama3")
        bos, eos = vocab - 2, vocab - 1
    else:
        vocab = write_tiny_sentencepiece(folder)
        bos, eos = 1, 2
    cfg = {"architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
           "bos_token_id": bos, "eos_token_id": eos, "hidden_act": "silu", "hidden_size": 32,
           "initializer_range": 0.02, "intermediate_size": 48, "max_position_embeddings": 64, "mlp_bias": False,
           "model_type": "llama", "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
           "pretraining_tp": 1, "rms_norm_eps": 1e-5, "rope_scaling": None, "rope_theta": 500.0,
           "tie_word_embeddings": False, "torch_dtype": "float32", "transformers_version": "4.40.0",
           "use_cache": True, "vocab_size": vocab}
    return cfg, llama_weights(cfg, g), llama_logits


# --- BERT as BertForMaskedLM (and, with `pretraining`, an older BertForPreTraining save) stores it
# and computes it: post-LayerNorm, every position seeing every other, one segment.

def bert_weights(cfg, g, pretraining):
    C, V, P, L, F = (cfg["hidden_size"], cfg["vocab_size"], cfg["max_position_embeddings"],
                     cfg["num_hidden_layers"], cfg["intermediate_size"])

    def rand(*shape, scale=0.3, mean=0.0):
        return (torch.randn(*shape, generator=g) * scale + mean).float()

    def norm(w, name):
        w[name + ".weight"], w[name + ".bias"] = rand(C, scale=0.1, mean=1.0), rand(C, scale=0.1)

    def linear(w, name, out, inp):  # nn.Linear: (out, in)
        w[name + ".weight"], w[name + ".bias"] = rand(out, inp), rand(out, scale=0.1)

    w = {"bert.embeddings.word_embeddings.weight": rand(V, C),
         "bert.embeddings.position_embeddings.weight": rand(P, C, scale=0.1),
         "bert.embeddings.token_type_embeddings.weight": rand(cfg["type_vocab_size"], C, scale=0.1)}
    norm(w, "bert.embeddings.LayerNorm")
    for i in range(L):
        p = f"bert.encoder.layer.{i}."
        for part in ("query", "key", "value"):
            linear(w, p + "attention.self." + part, C, C)
        linear(w, p + "attention.output.dense", C, C)
        norm(w, p + "attention.output.LayerNorm")
        linear(w, p + "intermediate.dense", F, C)
        linear(w, p + "output.dense", C, F)
        norm(w, p + "output.LayerNorm")
    linear(w, "cls.predictions.transform.dense", C, C)
    norm(w, "cls.predictions.transform.LayerNorm")
    w["cls.predictions.bias"] = rand(V, scale=0.1)
    if pretraining:
        # What an older BertForPreTraining file holds besides: the pooler, the next-sentence head,
        # the tied decoder stored again, and LayerNorm parameters named gamma and beta.
        linear(w, "bert.pooler.dense", C, C)
        linear(w, "cls.seq_relationship", 2, C)
        w["cls.predictions.decoder.weight"] = w["bert.embeddings.word_embeddings.weight"].clone()
        w["cls.predictions.decoder.bias"] = w["cls.predictions.bias"].clone()
        w = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
             for k, v in w.items()}
    return w


def gelu_exact(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def bert_logits(w, cfg, ids):
    w = {k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): v.double()
         for k, v in w.items()}
    C, H, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    T, D = len(ids), C // H

    def lin(x, name):
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    def ln(x, name):
        return layer_norm(x, w[name + ".weight"], w[name + ".bias"], eps)

    # No token_type_ids: every position is segment 0.
    x = (w["bert.embeddings.word_embeddings.weight"][ids] + w["bert.embeddings.token_type_embeddings.weight"][0]
         + w["bert.embeddings.position_embeddings.weight"][:T])
    x = ln(x, "bert.embeddings.LayerNorm")
    for i in range(cfg["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."
        q, k, v = (lin(x, p + "attention.self." + part).reshape(T, H, D).transpose(0, 1)
                   for part in ("query", "key", "value"))
        scores = q @ k.transpose(1, 2) / math.sqrt(D)  # no mask: both directions
        y = (torch.softmax(scores, -1) @ v).transpose(0, 1).reshape(T, C)
        x = ln(x + lin(y, p + "attention.output.dense"), p + "attention.output.LayerNorm")
        h = gelu_exact(lin(x, p + "intermediate.dense"))
        x = ln(x + lin(h, p + "output.dense"), p + "output.LayerNorm")
    h = ln(gelu_exact(lin(x, "cls.predictions.transform.dense")), "cls.predictions.transform.LayerNorm")
    return h @ w["bert.embeddings.word_embeddings.weight"].T + w["cls.predictions.bias"]  # tied decoder


def bert_checkpoint(folder, g, pretraining=False):
    vocab = write_tiny_bpe(folder)
    cfg = {"architectures": ["BertForPreTraining" if pretraining else "BertForMaskedLM"],
           "attention_probs_dropout_prob": 0.1, "classifier_dropout": None, "gradient_checkpointing": False,
           "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 32, "initializer_range": 0.02,
           "intermediate_size": 48, "layer_norm_eps": 1e-12, "max_position_embeddings": 64, "model_type": "bert",
           "num_attention_heads": 4, "num_hidden_layers": 2, "pad_token_id": 0,
           "position_embedding_type": "absolute", "torch_dtype": "float32", "transformers_version": "4.40.0",
           "type_vocab_size": 2, "use_cache": True, "vocab_size": vocab}
    return cfg, bert_weights(cfg, g, pretraining), bert_logits


# --- T5 as T5ForConditionalGeneration stores it and computes it: a bidirectional encoder and a
# causal decoder with cross-attention, RMS norms without mean or bias, no biases, relative
# position buckets learned in block 0 of each stack, scores not divided by sqrt(d_kv), heads of
# width d_kv (their total, here 48, need not be d_model), and a tied head that reads the decoder's
# output times d_model^-0.5.

T5_TARGET_LENGTH = 6
T5_EXTRA_IDS = 19  # T5Tokenizer's extra_ids (100 in the published folders)


def write_t5_sentencepiece(folder, corpus=None):
    """spiece.model with T5's special ids: pad 0, eos 1, unk 2, no bos; 120 pieces of a tiny text,
    or up to T5's 32000 pieces of `corpus` (as many as it supports: 26,886 of Brown's training text)."""
    import sentencepiece as spm
    text = os.path.join(folder, "corpus.txt")
    with open(text, "w") as f:
        for i in range(200):
            f.write(f"translate the quick brown fox {i} to the lazy dog and summarize the mat number {i * 7}\n")
    spm.SentencePieceTrainer.train(input=corpus or text, model_prefix=os.path.join(folder, "spiece"),
                                   vocab_size=32000 if corpus else 120, model_type="unigram", pad_id=0, eos_id=1,
                                   unk_id=2, bos_id=-1, hard_vocab_limit=not corpus, minloglevel=2)
    os.remove(text)
    os.remove(os.path.join(folder, "spiece.vocab"))
    return spm.SentencePieceProcessor(model_file=os.path.join(folder, "spiece.model")).get_piece_size()


def t5_weights(cfg, g, t5_init=False):
    """Random weights; with `t5_init`, of the spread T5's own initialisation gives (each projection
    std fan-in^-0.5, the query's (d_model d_kv)^-0.5), for a model of published size."""
    C, V, F, H = cfg["d_model"], cfg["vocab_size"], cfg["d_ff"], cfg["num_heads"]
    inner = H * cfg["d_kv"]

    def rand(*shape, scale=0.3, mean=0.0):
        return (torch.randn(*shape, generator=g) * scale + mean).float()

    def std(test_scale, fan_in):
        return fan_in ** -0.5 if t5_init else test_scale

    def attention(w, p, bias):  # nn.Linear (out, in), no biases
        w[p + "q.weight"] = rand(inner, C, scale=std(0.1, C * cfg["d_kv"]))
        w[p + "k.weight"], w[p + "v.weight"] = rand(inner, C, scale=std(0.3, C)), rand(inner, C, scale=std(0.3, C))
        w[p + "o.weight"] = rand(C, inner, scale=std(0.3, inner))
        if bias:
            w[p + "relative_attention_bias.weight"] = rand(cfg["relative_attention_num_buckets"], H,
                                                           scale=std(0.5, C))

    def mlp(w, p):
        if cfg["feed_forward_proj"].startswith("gated-"):
            w[p + "wi_0.weight"], w[p + "wi_1.weight"] = rand(F, C, scale=std(0.2, C)), rand(F, C, scale=std(0.2, C))
        else:
            w[p + "wi.weight"] = rand(F, C, scale=std(0.3, C))
        w[p + "wo.weight"] = rand(C, F, scale=std(0.15, F))

    w = {"shared.weight": rand(V, C, scale=1.0 if t5_init else 0.5)}
    for stack, layers in (("encoder", cfg["num_layers"]), ("decoder", cfg["num_decoder_layers"])):
        for i in range(layers):
            p = f"{stack}.block.{i}.layer."
            attention(w, p + "0.SelfAttention.", i == 0)
            w[p + "0.layer_norm.weight"] = rand(C, scale=0.1, mean=1.0)
            ff = p + "1."
            if stack == "decoder":
                attention(w, p + "1.EncDecAttention.", False)
                w[p + "1.layer_norm.weight"] = rand(C, scale=0.1, mean=1.0)
                ff = p + "2."
            mlp(w, ff + "DenseReluDense.")
            w[ff + "layer_norm.weight"] = rand(C, scale=0.1, mean=1.0)
        w[stack + ".final_layer_norm.weight"] = rand(C, scale=0.1, mean=1.0)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = rand(V, C, scale=0.15)
    return w


def t5_bucket(relative, bidirectional, num_buckets, max_distance):
    """Hugging Face's bucketing of key - query distances: half the buckets exact, the rest
    logarithmic up to max_distance; bidirectional stacks split them by direction, causal ones
    send every later key to bucket 0. Computed in float32 as the published code does."""
    bucket = torch.zeros_like(relative)
    if bidirectional:
        num_buckets //= 2
        bucket += (relative > 0).long() * num_buckets
        distance = relative.abs()
    else:
        distance = -torch.min(relative, torch.zeros_like(relative))
    exact = num_buckets // 2
    large = exact + (torch.log(distance.float() / exact) / math.log(max_distance / exact)
                     * (num_buckets - exact)).long()
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return bucket + torch.where(distance < exact, distance, large)


def t5_position_bias(w, cfg, table, queries, keys, bidirectional):
    """(H, queries, keys): the stack's learned bias for each query and key position."""
    relative = torch.arange(keys)[None, :] - torch.arange(queries)[:, None]
    buckets = t5_bucket(relative, bidirectional, cfg["relative_attention_num_buckets"],
                        cfg["relative_attention_max_distance"])
    return w[table][buckets].permute(2, 0, 1)


def t5_attention(w, cfg, p, x, memory, bias):
    """Multi-head attention of x over memory, scores q k^T + bias with no 1/sqrt(d_kv)."""
    H, D = cfg["num_heads"], cfg["d_kv"]
    q = (x @ w[p + "q.weight"].T).reshape(len(x), H, D).transpose(0, 1)
    k = (memory @ w[p + "k.weight"].T).reshape(len(memory), H, D).transpose(0, 1)
    v = (memory @ w[p + "v.weight"].T).reshape(len(memory), H, D).transpose(0, 1)
    scores = q @ k.transpose(1, 2) + bias
    y = (torch.softmax(scores, -1) @ v).transpose(0, 1).reshape(len(x), H * D)
    return y @ w[p + "o.weight"].T


def t5_mlp(w, cfg, p, x):
    if cfg["feed_forward_proj"] == "gated-gelu":  # T5Config makes it the tanh GELU (gelu_new)
        h = gelu_tanh(x @ w[p + "wi_0.weight"].T) * (x @ w[p + "wi_1.weight"].T)
    else:
        h = torch.relu(x @ w[p + "wi.weight"].T)
    return h @ w[p + "wo.weight"].T


def t5_encode(w, cfg, ids):
    eps, S = cfg["layer_norm_epsilon"], len(ids)
    bias = t5_position_bias(w, cfg, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", S, S,
                            True)
    x = w["shared.weight"][ids]
    for i in range(cfg["num_layers"]):
        p = f"encoder.block.{i}.layer."
        x = x + t5_attention(w, cfg, p + "0.SelfAttention.", rms_norm(x, w[p + "0.layer_norm.weight"], eps),
                             rms_norm(x, w[p + "0.layer_norm.weight"], eps), bias)
        x = x + t5_mlp(w, cfg, p + "1.DenseReluDense.", rms_norm(x, w[p + "1.layer_norm.weight"], eps))
    return rms_norm(x, w["encoder.final_layer_norm.weight"], eps)


def t5_decode(w, cfg, memory, ids):
    eps, T = cfg["layer_norm_epsilon"], len(ids)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    bias = t5_position_bias(w, cfg, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", T, T,
                            False).masked_fill(future, float("-inf"))
    x = w["shared.weight"][ids]
    for i in range(cfg["num_decoder_layers"]):
        p = f"decoder.block.{i}.layer."
        h = rms_norm(x, w[p + "0.layer_norm.weight"], eps)
        x = x + t5_attention(w, cfg, p + "0.SelfAttention.", h, h, bias)
        h = rms_norm(x, w[p + "1.layer_norm.weight"], eps)
        x = x + t5_attention(w, cfg, p + "1.EncDecAttention.", h, memory, 0.0)  # no position bias
        x = x + t5_mlp(w, cfg, p + "2.DenseReluDense.", rms_norm(x, w[p + "2.layer_norm.weight"], eps))
    x = rms_norm(x, w["decoder.final_layer_norm.weight"], eps)
    if cfg["tie_word_embeddings"]:
        return (x * cfg["d_model"] ** -0.5) @ w["shared.weight"].T
    return x @ w["lm_head.weight"].T


def t5_logits(w, cfg, encoder_ids, decoder_ids):
    w = {k: v.double() for k, v in w.items()}
    return t5_decode(w, cfg, t5_encode(w, cfg, encoder_ids), decoder_ids)


def t5_checkpoint(folder, g, gated=False, small_corpus=None):
    """T5 v1.0's layout (ReLU, tied head) or, with `gated`, v1.1's and FLAN-T5's (gated GELU, untied);
    with `small_corpus`, t5-small's published config (60M parameters) and a 32000-piece spiece.model
    trained on that text. Returns the config, the weights and the extra ids."""
    pieces = write_t5_sentencepiece(folder, small_corpus)
    cfg = {"architectures": ["T5ForConditionalGeneration"], "classifier_dropout": 0.0, "d_ff": 48, "d_kv": 8,
           "d_model": 32, "decoder_start_token_id": 0, "dropout_rate": 0.1, "eos_token_id": 1,
           "feed_forward_proj": "gated-gelu" if gated else "relu", "initializer_factor": 1.0,
           "is_encoder_decoder": True, "layer_norm_epsilon": 1e-6, "model_type": "t5", "n_positions": 64,
           "num_decoder_layers": 3, "num_heads": 6, "num_layers": 2, "output_past": True, "pad_token_id": 0,
           "relative_attention_max_distance": 20, "relative_attention_num_buckets": 8,
           "tie_word_embeddings": not gated, "torch_dtype": "float32", "transformers_version": "4.40.0",
           "use_cache": True, "vocab_size": pieces + T5_EXTRA_IDS + 1}  # the extra ids and a padding row
    if gated:
        cfg.update({"dense_act_fn": "gelu_new", "is_gated_act": True})
    if small_corpus:
        cfg.update({"d_ff": 2048, "d_kv": 64, "d_model": 512, "n_positions": 512, "num_decoder_layers": 6,
                    "num_heads": 8, "num_layers": 6, "relative_attention_max_distance": 128,
                    "relative_attention_num_buckets": 32, "vocab_size": pieces + 128})
        return cfg, t5_weights(cfg, g, t5_init=True), 100
    return cfg, t5_weights(cfg, g), T5_EXTRA_IDS


def t5_reference(folder, g, gated, small_corpus=None):
    cfg, weights, extra = t5_checkpoint(folder, g, gated, small_corpus)
    V = cfg["vocab_size"]
    # T5Tokenizer puts <extra_id_n> at (pieces + extra_ids) - 1 - n: counting down after the pieces;
    # padding rows follow (one here, 28 in the published models).
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"extra_ids": extra, "tokenizer_class": "T5Tokenizer"}, f)
    tokenizer_size = V - (28 if small_corpus else 1)
    extra_id_rows = {f"<extra_id_{n}>": tokenizer_size - 1 - n for n in range(extra)}
    prompt = torch.randint(3, V, (PROMPT_LENGTH,), generator=g).tolist()
    target = [cfg["decoder_start_token_id"]] + torch.randint(3, V, (T5_TARGET_LENGTH,), generator=g).tolist()
    ids = [cfg["decoder_start_token_id"]]
    for _ in range(CONTINUATION):
        ids.append(int(t5_logits(weights, cfg, prompt, ids)[-1].argmax()))
        if ids[-1] == cfg["eos_token_id"]:
            break
    reference = {"prompt": prompt, "decoder_input": target, "logits": t5_logits(weights, cfg, prompt, target).tolist(),
                 "vocab_size": V, "greedy": ids[1:], "extra_id_rows": extra_id_rows}
    return cfg, weights, reference


def greedy(forward, w, cfg, prompt, n, eos):
    ids = list(prompt)
    for _ in range(n):
        ids.append(int(forward(w, cfg, ids)[-1].argmax()))
        if ids[-1] == eos:
            break
    return ids[len(prompt):]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("family", choices=["gpt2", "llama", "bert", "t5"])
    parser.add_argument("folder")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gpt2-124m", metavar="GPT2_FILES",
                        help="gpt2 only: GPT-2 small's size, with encoder.json and vocab.bpe from this folder")
    parser.add_argument("--tokenizer-json", action="store_true",
                        help="the tokenizer as tokenizer.json: GPT-2's form instead of vocab.json and merges.txt, "
                             "LLaMA 3's instead of tokenizer.model")
    parser.add_argument("--pretraining", action="store_true",
                        help="bert only: an older BertForPreTraining file (pooler, next-sentence head, the tied "
                             "decoder stored again, LayerNorm gamma/beta); the same weights and logits")
    parser.add_argument("--t5-small", metavar="CORPUS",
                        help="t5 only: t5-small's size, with a 32000-piece spiece.model trained on this text file")
    parser.add_argument("--gated", action="store_true",
                        help="t5 only: T5 v1.1's and FLAN-T5's layout (gated-gelu, untied head) instead of v1.0's")
    args = parser.parse_args()
    os.makedirs(args.folder, exist_ok=True)
    g = torch.Generator().manual_seed(args.seed)
    if args.family == "t5":
        # An encoder-decoder: logits of a target read with teacher forcing, and a greedy
        # continuation from decoder_start_token_id.
        cfg, weights, reference = t5_reference(args.folder, g, args.gated, args.t5_small)
        with open(os.path.join(args.folder, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        write_safetensors(os.path.join(args.folder, "model.safetensors"), weights, {"format": "pt"})
        with open(os.path.join(args.folder, "reference.json"), "w") as f:
            json.dump(reference, f)
        return
    if args.family == "gpt2":
        cfg, weights, forward = gpt2_checkpoint(args.folder, g, args.gpt2_124m, args.tokenizer_json)
    elif args.family == "bert":
        cfg, weights, forward = bert_checkpoint(args.folder, g, args.pretraining)
    else:
        cfg, weights, forward = llama_checkpoint(args.folder, g, args.tokenizer_json)
    with open(os.path.join(args.folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(args.folder, "model.safetensors"), weights, {"format": "pt"})
    prompt = torch.randint(0, cfg["vocab_size"] - 1, (PROMPT_LENGTH,), generator=g).tolist()
    logits = forward(weights, cfg, prompt)
    reference = {"prompt": prompt, "logits": logits.tolist(), "vocab_size": cfg["vocab_size"]}
    if cfg["model_type"] != "bert":  # an encoder does not generate
        reference["greedy"] = greedy(forward, weights, cfg, prompt, CONTINUATION, cfg["eos_token_id"])
    with open(os.path.join(args.folder, "reference.json"), "w") as f:
        json.dump(reference, f)


if __name__ == "__main__":
    main()
